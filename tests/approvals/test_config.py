"""``approvals`` in gateway.yaml and ``approval`` in tool specs: checked at load, with file and line."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gateway.config import ConfigError, load_config
from gateway.config.model import ApprovalSettings
from tests.approvals.conftest import ConfigCopy
from tests.conftest import REPO_ROOT


def test_the_schema_admits_exactly_the_settings_fields() -> None:
    """The section is passed straight to the dataclass, which alone holds the defaults."""
    schema = json.loads((REPO_ROOT / "gateway" / "config" / "schemas" / "gateway.schema.json").read_text())
    admitted = set(schema["properties"]["approvals"]["properties"])
    assert admitted == {field.name for field in dataclasses.fields(ApprovalSettings)}


def test_the_shipped_settings_and_an_unset_webhook() -> None:
    settings = load_config(REPO_ROOT, env={}).gateway.approvals
    assert (settings.ttl_s, settings.require_for_risk, settings.notify_url) == (900.0, (), None)
    with_hook = load_config(REPO_ROOT, env={"CALLGATE_APPROVALS_NOTIFY_URL": "http://127.0.0.1:9/hook"})
    assert with_hook.gateway.approvals.notify_url == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"ttl_s": 0}, "$.approvals.ttl_s"),
        ({"require_for_risk": ["extreme"]}, "$.approvals.require_for_risk[0]"),
        ({"notify_url": "ftp://example.com"}, "$.approvals.notify_url"),
        ({"max_pending_per_principal": 0}, "$.approvals.max_pending_per_principal"),
        ({"who": "me"}, "$.approvals"),
    ],
)
def test_bad_settings_fail_the_load_with_file_and_line(
    config_copy: ConfigCopy, settings: dict[str, object], path: str
) -> None:
    config_copy.edit_gateway(approvals=settings)
    with pytest.raises(ConfigError) as failed:
        load_config(config_copy.path, env={})
    assert failed.value.file.name == "gateway.yaml" and failed.value.json_path == path
    assert failed.value.line is not None


def test_a_tool_spec_says_required_or_policy_and_nothing_else(config_copy: ConfigCopy) -> None:
    spec = config_copy.path / "tool_specs" / "docs.search.yaml"
    original = spec.read_text()
    spec.write_text(original + "approval: required\n")
    assert load_config(config_copy.path, env={}).tools["docs.search"].approval == "required"
    spec.write_text(original + "approval: sometimes\n")
    with pytest.raises(ConfigError) as failed:
        load_config(config_copy.path, env={})
    assert failed.value.json_path == "$.approval" and failed.value.line == len(original.splitlines()) + 1
