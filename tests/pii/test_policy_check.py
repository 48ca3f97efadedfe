"""``callgate policy check`` builds the PII detector as the gateway does: bad PII configuration is reported
with file and line, without starting a gateway."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway.policy.check import Finding, check_config
from tests.conftest import REPO_ROOT


def config_with_pii(dest: Path, change: dict[str, Any]) -> Path:
    """A copy of the shipped configuration with ``change`` merged into gateway.yaml's ``pii`` section."""
    for part in ("policies", "tool_specs"):
        shutil.copytree(REPO_ROOT / part, dest / part)
    path = dest / "policies" / "gateway.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["pii"] = {**settings["pii"], **change}
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return dest


def only_error(findings: list[Finding]) -> Finding:
    errors = [f for f in findings if f.severity == "error"]
    assert len(errors) == 1, findings
    return errors[0]


def line_text(finding: Finding) -> str:
    assert finding.line is not None
    return finding.file.read_text().splitlines()[finding.line - 1]


def test_a_custom_pattern_the_linear_time_engine_refuses_is_reported_at_its_recognizer(tmp_path: Path) -> None:
    recognizers = [
        {"name": "acme_employee_id", "entity": "EMPLOYEE_ID", "patterns": [{"regex": r"\bEMP-[0-9]{6}\b"}]},
        {"name": "ticket_ref", "entity": "TICKET_REF", "patterns": [{"regex": r"(T)-\d+(?=\s)", "score": 0.9}]},
    ]
    error = only_error(check_config(config_with_pii(tmp_path, {"recognizers": recognizers})))
    assert error.file.name == "gateway.yaml"
    assert "name: ticket_ref" in line_text(error)
    assert "ticket_ref" in error.message and "lookaround" in error.message
    assert "$.pii.recognizers[1]" in error.message


def test_an_unknown_entity_type_is_reported_where_it_is_named(tmp_path: Path) -> None:
    shipped = yaml.safe_load((REPO_ROOT / "policies" / "gateway.yaml").read_text())["pii"]["defaults"]
    error = only_error(check_config(config_with_pii(tmp_path, {"defaults": {**shipped, "EMAIL_ADRESS": "redact"}})))
    assert "EMAIL_ADRESS" in line_text(error)
    assert "unknown PII entity type EMAIL_ADRESS" in error.message


def test_a_spacy_model_that_is_not_installed_is_reported_at_nlp_model(tmp_path: Path) -> None:
    change = {"nlp_model": "xx_callgate_not_installed", "defaults": {"PERSON": "redact"}}
    error = only_error(check_config(config_with_pii(tmp_path, change)))
    assert line_text(error).startswith("  nlp_model:")
    assert "not installed" in error.message and "never downloads" in error.message


def test_a_type_an_ner_model_finds_without_one_configured_is_reported_where_it_is_named(tmp_path: Path) -> None:
    error = only_error(check_config(config_with_pii(tmp_path, {"defaults": {"LOCATION": "mask"}})))
    assert "LOCATION" in line_text(error)
    assert "set pii.nlp_model" in error.message


def test_the_command_reports_pii_problems_with_file_and_line_and_fails(tmp_path: Path) -> None:
    shipped = yaml.safe_load((REPO_ROOT / "policies" / "gateway.yaml").read_text())["pii"]["recognizers"]
    broken = {"name": "broken", "entity": "BROKEN_ID", "patterns": [{"regex": r"(a)\1"}]}  # a backreference
    config_dir = config_with_pii(tmp_path, {"recognizers": [*shipped, broken]})
    command = [sys.executable, "-m", "gateway", "policy", "check", "--config-dir", str(config_dir)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    lines = (config_dir / "policies" / "gateway.yaml").read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "name: broken" in text)
    assert f"gateway.yaml:{line}: error: pii recognizer 'broken'" in result.stdout


def test_the_shipped_pii_configuration_passes() -> None:
    assert [f for f in check_config(REPO_ROOT) if f.severity == "error"] == []
