"""Rule resolution (defaults < tool spec < gateway.yaml rules by specificity), schema annotations, loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import ConfigError, load_config
from gateway.config.model import (
    DEFAULT_PII_ACTIONS,
    PiiRule,
    PiiSettings,
    PiiToolOverrides,
    PythonBackendSpec,
    ToolSpec,
)
from gateway.pii.build import build_pii
from gateway.pii.rules import SKIP, PiiRules, compile_schema
from tests.pii.scrub_tools import pii_config_dir


def _tool(name: str, pii: PiiToolOverrides | None = None, output_schema: dict[str, Any] | None = None) -> ToolSpec:
    return ToolSpec(
        name=name,
        description="x",
        input_schema={"type": "object"},
        backend=PythonBackendSpec(callable="m:f"),
        source=Path(f"{name}.yaml"),
        output_schema=output_schema,
        pii=pii,
    )


def _rules(*rules: PiiRule, tools: dict[str, ToolSpec] | None = None) -> PiiRules:
    settings = PiiSettings(rules=rules)
    return PiiRules(
        settings,
        tools or {name: _tool(name) for name in ("crm.get_customer", "billing.refund", "billing.other", "docs")},
    )


def test_without_a_pii_section_the_shipped_defaults_scrub_every_tool_both_ways() -> None:
    rules = _rules()
    for direction in ("arguments", "result"):
        plan = rules.plan("docs", ("anyone",), direction)
        assert dict(plan.actions) == DEFAULT_PII_ACTIONS
    assert set(DEFAULT_PII_ACTIONS) == {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "US_SSN",
        "IBAN_CODE",
        "IP_ADDRESS",
    }


def test_a_role_rule_applies_to_its_roles_and_direction_only() -> None:
    rules = _rules(PiiRule("crm.get_customer", {"EMAIL_ADDRESS": "allow"}, ("support-agent",), ("result",)))
    assert "EMAIL_ADDRESS" not in rules.plan("crm.get_customer", ("support-agent",), "result").actions
    assert rules.plan("crm.get_customer", ("sales-agent",), "result").actions["EMAIL_ADDRESS"] == "redact"
    assert rules.plan("crm.get_customer", ("support-agent",), "arguments").actions["EMAIL_ADDRESS"] == "redact"
    assert rules.plan("docs", ("support-agent",), "result").actions["EMAIL_ADDRESS"] == "redact"


def test_the_most_specific_rule_wins_whatever_the_file_order() -> None:
    rules = _rules(
        PiiRule("billing.refund", {"CREDIT_CARD": "hash"}),
        PiiRule("billing.*", {"CREDIT_CARD": "mask"}),
        PiiRule("*", {"CREDIT_CARD": "block"}),
        PiiRule("billing.refund", {"CREDIT_CARD": "allow"}, ("finance",)),
    )
    assert rules.plan("billing.refund", ("x",), "result").actions["CREDIT_CARD"] == "hash"
    assert "CREDIT_CARD" not in rules.plan("billing.refund", ("finance",), "result").actions
    assert rules.plan("billing.other", ("x",), "result").actions["CREDIT_CARD"] == "mask"
    assert rules.plan("docs", ("finance",), "arguments").actions["CREDIT_CARD"] == "block"


def test_equally_specific_rules_apply_in_file_order() -> None:
    rules = _rules(PiiRule("*", {"PHONE_NUMBER": "mask"}), PiiRule("*", {"PHONE_NUMBER": "hash"}))
    assert rules.plan("docs", (), "arguments").actions["PHONE_NUMBER"] == "hash"


def test_a_tool_spec_overrides_the_defaults_and_gateway_rules_override_the_tool_spec() -> None:
    tools = {
        "crm.update_email": _tool("crm.update_email", PiiToolOverrides(arguments={"EMAIL_ADDRESS": "allow"})),
        "docs": _tool("docs", PiiToolOverrides(result={"PHONE_NUMBER": "mask", "IP_ADDRESS": "allow"})),
    }
    rules = _rules(PiiRule("docs", {"PHONE_NUMBER": "block"}, directions=("result",)), tools=tools)
    assert "EMAIL_ADDRESS" not in rules.plan("crm.update_email", (), "arguments").actions
    assert rules.plan("crm.update_email", (), "result").actions["EMAIL_ADDRESS"] == "redact"
    docs = rules.plan("docs", (), "result").actions
    assert docs["PHONE_NUMBER"] == "block"
    assert "IP_ADDRESS" not in docs


def test_plans_per_roles_are_cached() -> None:
    rules = _rules(PiiRule("docs", {"EMAIL_ADDRESS": "allow"}, ("a",)))
    assert rules.plan("docs", ("a",), "result") is rules.plan("docs", ("a",), "result")
    plain = _rules()
    assert plain.plan("docs", ("a",), "result") is plain.plan("docs", ("b",), "result")


def test_schema_annotations_compile_to_a_plan_of_where_to_look() -> None:
    node = compile_schema(
        {
            "type": "object",
            "properties": {
                "id": {"type": "string", "x-pii": "none"},
                "email": {"type": "string", "x-pii": ["EMAIL_ADDRESS"]},
                "notes": {"type": "array", "items": {"type": "object", "properties": {"by": {"x-pii": "none"}}}},
                "free": {"type": "string"},
            },
        }
    )
    assert node is not None
    assert node.properties["id"] is SKIP
    email = node.properties["email"]
    assert email is not None and email.only == frozenset({"EMAIL_ADDRESS"})
    notes = node.properties["notes"]
    assert notes is not None and notes.items is not None and notes.items.properties["by"] is SKIP
    assert node.properties["free"] is None  # scanned in full
    assert compile_schema({"type": "object"}) is None


def _write_gateway_pii(config_dir: Path, pii: dict[str, Any]) -> None:
    path = config_dir / "policies" / "gateway.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["pii"] = pii
    path.write_text(yaml.safe_dump(settings, sort_keys=False))


def test_a_bad_custom_recognizer_fails_at_load_naming_gateway_yaml_its_line_and_path(tmp_path: Path) -> None:
    config_dir = pii_config_dir(tmp_path)
    _write_gateway_pii(
        config_dir,
        {
            "recognizers": [
                {"name": "ok", "entity": "TICKET", "deny_list": ["x"]},
                {"name": "broken", "entity": "EMPLOYEE_ID", "patterns": [{"regex": "EMP-(\\d{6}"}]},
            ]
        },
    )
    config = load_config(config_dir, env={})
    with pytest.raises(ConfigError) as caught:
        build_pii(config)
    error = caught.value
    assert error.file.name == "gateway.yaml"
    assert error.json_path == "$.pii.recognizers[1]"
    lines = (config_dir / "policies" / "gateway.yaml").read_text().splitlines()
    assert error.line is not None
    assert "name: broken" in lines[error.line - 1]


def test_an_unknown_entity_type_fails_at_load_where_it_is_named(tmp_path: Path) -> None:
    config_dir = pii_config_dir(tmp_path)
    _write_gateway_pii(config_dir, {"rules": [{"tool": "*", "entities": {"EMAIL_ADRESS": "allow"}}]})
    with pytest.raises(ConfigError) as caught:
        build_pii(load_config(config_dir, env={}))
    assert caught.value.json_path == "$.pii.rules[0].entities.EMAIL_ADRESS"
    assert caught.value.line is not None


def test_a_malformed_action_is_refused_by_the_schema_with_its_line(tmp_path: Path) -> None:
    config_dir = pii_config_dir(tmp_path)
    _write_gateway_pii(config_dir, {"defaults": {"EMAIL_ADDRESS": "obliterate"}})
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir, env={})
    assert caught.value.json_path == "$.pii.defaults.EMAIL_ADDRESS"


def test_an_x_pii_annotation_naming_an_unconfigured_type_fails_at_load(tmp_path: Path) -> None:
    spec = {
        "name": "t.annotated",
        "description": "x",
        "input_schema": {"type": "object", "properties": {"mail": {"type": "string", "x-pii": ["EMAIL_ADRES"]}}},
        "backend": {"type": "python", "callable": "tests.pii.scrub_tools:echo"},
    }
    config_dir = pii_config_dir(tmp_path, tools=[spec])
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir, env={})
    assert caught.value.file.name == "t.annotated.yaml"
    assert caught.value.json_path == "$.input_schema.properties.mail.x-pii"


def test_an_x_pii_annotation_that_is_neither_none_nor_a_list_fails_at_load(tmp_path: Path) -> None:
    spec = {
        "name": "t.annotated",
        "description": "x",
        "input_schema": {"type": "object", "properties": {"mail": {"type": "string", "x-pii": "some"}}},
        "backend": {"type": "python", "callable": "tests.pii.scrub_tools:echo"},
    }
    with pytest.raises(ConfigError) as caught:
        load_config(pii_config_dir(tmp_path, tools=[spec]), env={})
    assert caught.value.json_path == "$.input_schema.properties.mail.x-pii"


def test_the_hash_key_comes_from_the_environment_or_a_key_file_made_once(tmp_path: Path) -> None:
    config_dir = pii_config_dir(tmp_path)
    _write_gateway_pii(config_dir, {"defaults": {"EMAIL_ADDRESS": "hash"}, "key_file": "state/pii.key"})
    from_env = load_config(config_dir, env={"CALLGATE_PII_KEY": "ab" * 32})
    assert from_env.gateway.pii.hash_key == bytes([0xAB]) * 32
    assert not (config_dir / "state" / "pii.key").exists()
    first = load_config(config_dir, env={}).gateway.pii.hash_key
    key_file = config_dir / "state" / "pii.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert first is not None and load_config(config_dir, env={}).gateway.pii.hash_key == first
    assert "ab" * 8 not in repr(from_env.gateway.pii)  # the key never shows in a repr (or a log of one)


def test_no_key_file_is_made_when_nothing_hashes(tmp_path: Path) -> None:
    config_dir = pii_config_dir(tmp_path)
    config = load_config(config_dir, env={"CALLGATE_AUDIT_DIR": str(tmp_path / "audit")})
    assert config.gateway.pii.hash_key is None
    assert not (tmp_path / "audit" / "pii.key").exists()
