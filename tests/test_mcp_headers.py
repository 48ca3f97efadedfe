"""gateway/mcp_headers.py: header value decoding and the x-mcp-header annotations, checked at load."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_config
from gateway.mcp_headers import HeaderParam, HeaderValueError, decode_value, header_params, header_problem
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("us-west1", "us-west1"),
        ("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界"),
        ("=?base64?IHBhZGRlZCA=?=", " padded "),
        ("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?="),
        ("SGVsbG8=", "SGVsbG8="),  # no sentinel: a literal value
        ("  spaced \t", "spaced"),
    ],
)
def test_header_values_are_decoded_as_the_spec_says(raw: str, value: str) -> None:
    assert decode_value(raw) == value


@pytest.mark.parametrize("raw", ["=?base64?SGVsbG8?=", "=?base64?SGVs!!!bG8=?=", "caf\u00e9", "a\x01b"])
def test_undecodable_or_unsafe_header_values_are_refused(raw: str) -> None:
    with pytest.raises(HeaderValueError):
        decode_value(raw)


def schema(**region: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region", **region}}}


def test_annotations_reachable_through_properties_are_found() -> None:
    nested = {"type": "object", "properties": {"where": schema()}}
    assert header_params(nested) == (HeaderParam("Region", ("where", "region")),)


@pytest.mark.parametrize(
    "bad",
    [
        schema(type="number"),
        {"type": "object", "items": {"type": "string", "x-mcp-header": "Region"}},
        {"type": "object", "oneOf": [schema()]},
        {"$defs": {"d": {"type": "string", "x-mcp-header": "D"}}},
        schema(**{"x-mcp-header": "Two Words"}),
        {"properties": {"a": {"type": "string", "x-mcp-header": "X"}, "b": {"type": "string", "x-mcp-header": "x"}}},
    ],
    ids=["number", "under-items", "under-oneOf", "under-defs", "not-a-token", "duplicate"],
)
def test_annotations_the_spec_forbids_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="x-mcp-header"):
        header_params(bad)


@pytest.mark.parametrize(
    ("arguments", "headers", "ok"),
    [
        ({"region": "us"}, {"mcp-param-region": "us"}, True),
        ({}, {}, True),
        ({"region": None}, {}, True),
        ({"region": "us"}, {}, False),
        ({"region": "us"}, {"mcp-param-region": "eu"}, False),
        ({}, {"mcp-param-region": "us"}, False),
    ],
    ids=["match", "absent", "null", "header-missing", "header-other", "header-without-argument"],
)
def test_mirrored_headers_must_say_what_the_arguments_say(
    arguments: dict[str, Any], headers: dict[str, str], ok: bool
) -> None:
    assert (header_problem(headers, arguments, header_params(schema())) == "") is ok


def test_integers_and_booleans_are_compared_as_the_client_writes_them() -> None:
    params = header_params({"properties": {"n": {"type": "integer", "x-mcp-header": "N"}}})
    assert header_problem({"mcp-param-n": "42"}, {"n": 42.0}, params) == ""
    flag = header_params({"properties": {"f": {"type": "boolean", "x-mcp-header": "F"}}})
    assert header_problem({"mcp-param-f": "true"}, {"f": True}, flag) == ""


def test_a_tool_spec_with_a_forbidden_annotation_fails_at_load_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "conformance" / "config", config)
    spec = config / "tool_specs" / "test_custom_header.yaml"
    spec.write_text(spec.read_text().replace("x-mcp-header: Region", "x-mcp-header: 'Two Words'"))
    with pytest.raises(ConfigError) as refused:
        load_config(config, env={})
    assert refused.value.file == spec and "x-mcp-header" in refused.value.detail
