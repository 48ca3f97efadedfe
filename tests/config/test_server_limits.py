"""The server limits in ``policies/gateway.yaml`` (string length, body deadline, uvicorn's limits) as loaded.

A bad value stops the load with the file, the line and the JSON path, like every other setting.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config import ConfigError, ServerSettings, load_config
from tests.conftest import REPO_ROOT

LIMITS = ("max_string_length", "body_read_timeout_s", "limit_concurrency", "timeout_keep_alive_s")


def set_server_line(config_dir: Path, name: str, value: str | None) -> int:
    """Write ``name: value`` over the setting's line in gateway.yaml (``None`` drops it); its 1-based line."""
    path = config_dir / "policies" / "gateway.yaml"
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if re.match(rf"  {name}:", line))
    if value is None:
        del lines[index]
    else:
        lines[index] = f"  {name}: {value}\n"
    path.write_text("".join(lines))
    return index + 1


def test_shipped_configuration_states_the_defaults() -> None:
    server = load_config(REPO_ROOT, env={}).gateway.server
    assert [getattr(server, name) for name in LIMITS] == [262_144, 10.0, 1000, 5]
    assert [getattr(server, name) for name in LIMITS] == [getattr(ServerSettings(), name) for name in LIMITS]


def test_limits_left_out_take_the_defaults(config_copy: Path) -> None:
    for name in LIMITS:
        set_server_line(config_copy, name, None)
    server = load_config(config_copy, env={}).gateway.server
    assert [getattr(server, name) for name in LIMITS] == [getattr(ServerSettings(), name) for name in LIMITS]


def test_fractional_body_read_timeout_is_accepted(config_copy: Path) -> None:
    set_server_line(config_copy, "body_read_timeout_s", "0.25")
    assert load_config(config_copy, env={}).gateway.server.body_read_timeout_s == 0.25


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_string_length", "0"),
        ("max_string_length", "1023"),
        ("max_string_length", "67108865"),
        ("max_string_length", "1.5"),
        ("max_string_length", '"262144"'),
        ("body_read_timeout_s", "0"),
        ("body_read_timeout_s", "-1"),
        ("body_read_timeout_s", "3601"),
        ("body_read_timeout_s", '"10s"'),
        ("limit_concurrency", "0"),
        ("limit_concurrency", "1"),  # uvicorn counts the new connection itself: 1 would refuse every request
        ("limit_concurrency", "2.5"),
        ("timeout_keep_alive_s", "0"),
        ("timeout_keep_alive_s", "2.5"),
        ("timeout_keep_alive_s", "true"),
    ],
)
def test_bad_limit_names_the_file_line_and_json_path(config_copy: Path, name: str, value: str) -> None:
    line = set_server_line(config_copy, name, value)
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    error = caught.value
    assert error.file.name == "gateway.yaml"
    assert error.json_path == f"$.server.{name}"
    assert error.line == line
    assert str(error).startswith(f"{error.file}:{line} at $.server.{name}:")


HEAD_LIMITS = ("max_header_bytes", "max_headers", "header_read_timeout_s")


def test_shipped_configuration_states_the_head_limits_and_no_extra_hosts() -> None:
    server = load_config(REPO_ROOT, env={}).gateway.server
    assert [getattr(server, name) for name in HEAD_LIMITS] == [16_384, 100, 10.0]
    assert [getattr(server, name) for name in HEAD_LIMITS] == [getattr(ServerSettings(), name) for name in HEAD_LIMITS]
    assert server.allowed_hosts == ()
    assert server.metrics_token_env is None


def test_allowed_hosts_and_metrics_token_env_are_loaded(config_copy: Path) -> None:
    set_server_line(config_copy, "allowed_hosts", '["callgate.example.com", "*.corp.example", "[::1]", "10.0.0.7"]')
    set_server_line(config_copy, "max_headers", "100\n  metrics_token_env: CALLGATE_METRICS_TOKEN")
    server = load_config(config_copy, env={}).gateway.server
    assert server.allowed_hosts == ("callgate.example.com", "*.corp.example", "[::1]", "10.0.0.7")
    assert server.metrics_token_env == "CALLGATE_METRICS_TOKEN"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_header_bytes", "1023"),
        ("max_header_bytes", "1048577"),
        ("max_headers", "7"),
        ("max_headers", "1.5"),
        ("header_read_timeout_s", "0"),
        ("header_read_timeout_s", "3601"),
        ("allowed_hosts", '["https://callgate.example.com"]'),
        ("allowed_hosts", '["callgate.example.com:8700"]'),
        ("allowed_hosts", '["a b"]'),
        ("allowed_hosts", '["*."]'),
        ("allowed_hosts", '"*"'),
    ],
)
def test_bad_edge_setting_names_the_file_line_and_json_path(config_copy: Path, name: str, value: str) -> None:
    line = set_server_line(config_copy, name, value)
    with pytest.raises(ConfigError) as caught:
        load_config(config_copy, env={})
    assert caught.value.json_path is not None and caught.value.json_path.startswith(f"$.server.{name}")
    assert caught.value.line == line
