"""Loading a config directory: all-or-nothing, and every error names the file, line and JSON path."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gateway.config import ConfigError, HttpBackendSpec, load_config
from gateway.config import model as models
from tests.conftest import REPO_ROOT


def write_spec(config_dir: Path, name: str, text: str) -> Path:
    path = config_dir / "tool_specs" / f"{name}.yaml"
    path.write_text(text)
    return path


MINIMAL_SPEC = """\
name: test.tool
description: A tool for tests.
input_schema:
  type: object
  properties:
    id: {type: string}
  required: [id]
backend:
  type: http
  method: GET
  url: http://127.0.0.1:9/items/{id}
"""


def test_environment_references_are_filled_with_defaults_and_values() -> None:
    config = load_config(REPO_ROOT, env={})
    backend = config.tools["crm.get_customer"].backend
    assert isinstance(backend, HttpBackendSpec)
    assert backend.url == "http://127.0.0.1:8701/crm/customers/{customer_id}"
    config = load_config(REPO_ROOT, env={"CALLGATE_DEMO_BACKEND_URL": "http://10.1.2.3:9000"})
    backend = config.tools["crm.get_customer"].backend
    assert isinstance(backend, HttpBackendSpec)
    assert backend.url.startswith("http://10.1.2.3:9000/")


def test_missing_variable_without_default_names_the_file_and_path(config_copy: Path) -> None:
    write_spec(config_copy, "test.tool", MINIMAL_SPEC.replace("http://127.0.0.1:9", "${NOT_SET_ANYWHERE}"))
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    assert caught.value.file.name == "test.tool.yaml"
    assert caught.value.json_path == "$.backend.url"
    assert "NOT_SET_ANYWHERE" in str(caught.value)


def test_schema_violation_names_file_line_and_json_path(config_copy: Path) -> None:
    write_spec(config_copy, "test.tool", MINIMAL_SPEC.replace("  method: GET", "  method: FETCH"))
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    error = caught.value
    assert error.file.name == "test.tool.yaml"
    assert error.json_path == "$.backend.method"
    assert error.line == 10
    assert str(error).startswith(f"{error.file}:10 at $.backend.method:")


def test_invalid_input_schema_is_rejected_at_load(config_copy: Path) -> None:
    write_spec(config_copy, "test.tool", MINIMAL_SPEC.replace("id: {type: string}", "id: {type: strang}"))
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    assert caught.value.json_path == "$.input_schema.properties.id.type"
    assert "Draft 2020-12" in str(caught.value)


def test_yaml_syntax_error_reports_the_line(config_copy: Path) -> None:
    write_spec(config_copy, "test.tool", "name: test.tool\ndescription: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    assert caught.value.line is not None


def test_unknown_key_in_gateway_yaml_is_rejected(config_copy: Path) -> None:
    path = config_copy / "policies" / "gateway.yaml"
    path.write_text(path.read_text() + "surprise: true\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    assert caught.value.file.name == "gateway.yaml"
    assert "surprise" in str(caught.value)


def test_duplicate_tool_names_are_rejected(config_copy: Path) -> None:
    write_spec(config_copy, "copy", (config_copy / "tool_specs" / "docs.search.yaml").read_text())
    with pytest.raises(ConfigError, match="already defined"):
        load_config(config_copy, env={})


def test_placeholder_in_url_host_is_rejected(config_copy: Path) -> None:
    write_spec(config_copy, "test.tool", MINIMAL_SPEC.replace("http://127.0.0.1:9/items/{id}", "http://{id}.example/x"))
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    assert caught.value.json_path == "$.backend.url"


def test_secret_header_comes_from_the_environment(config_copy: Path) -> None:
    spec = MINIMAL_SPEC + "  headers:\n    X-Backend-Token: {env: TEST_BACKEND_TOKEN}\n"
    write_spec(config_copy, "test.tool", spec)
    config = load_config(config_copy, env={"TEST_BACKEND_TOKEN": "s3cret"})
    backend = config.tools["test.tool"].backend
    assert isinstance(backend, HttpBackendSpec)
    assert ("X-Backend-Token", "s3cret") in backend.headers
    with pytest.raises(ConfigError, match="TEST_BACKEND_TOKEN"):
        load_config(config_copy, env={})


def test_missing_policy_file_is_reported(config_copy: Path) -> None:
    (config_copy / "policies" / "policy.csv").unlink()
    with pytest.raises(ConfigError, match="file not found"):
        load_config(config_copy, env={})


def test_version_changes_when_any_file_changes(config_copy: Path) -> None:
    before = load_config(config_copy, env={}).version
    policy = config_copy / "policies" / "policy.csv"
    policy.write_text(policy.read_text() + "\n# a comment\n")
    assert load_config(config_copy, env={}).version != before


def test_relative_audit_dir_is_resolved_against_the_config_dir(config_copy: Path) -> None:
    config = load_config(config_copy, env={})
    assert config.gateway.audit.dir == config_copy.resolve() / "var" / "audit"


def test_version_changes_when_a_key_file_under_policies_changes(config_copy: Path) -> None:
    before = load_config(config_copy, env={}).version
    key = config_copy / "policies" / "demo-jwt-public.pem"
    key.write_text(key.read_text() + "\n")
    assert load_config(config_copy, env={}).version != before


@pytest.mark.parametrize(
    ("schema", "pointer", "model"),
    [
        ("gateway.schema.json", ["server"], "ServerSettings"),
        ("tool_spec.schema.json", ["breaker"], "BreakerSpec"),
        ("tool_spec.schema.json", ["concurrency"], "ConcurrencySpec"),
        ("tool_spec.schema.json", ["retry"], "RetrySpec"),
    ],
)
def test_settings_the_schema_admits_are_exactly_the_dataclass_fields(
    schema: str, pointer: list[str], model: str
) -> None:
    """These sections are built by passing what the file says straight to the dataclass, which holds the defaults."""
    node = json.loads((REPO_ROOT / "gateway" / "config" / "schemas" / schema).read_text())["properties"]
    for part in pointer:
        node = node[part]
    assert set(node["properties"]) == {field.name for field in dataclasses.fields(getattr(models, model))}
