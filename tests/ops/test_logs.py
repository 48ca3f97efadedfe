"""Logs: one JSON object per line (with request and decision ids) or readable lines; uvicorn's too; no secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.logs import ConsoleFormatter, JsonFormatter, resolve
from tests.conftest import copy_shipped_config
from tests.processes import Served, start, wait_ready

CANARY = "canary-5e1f"
EMAIL = f"{CANARY}@example.com"


def config_with_logging(root: Path, log_format: str) -> Path:
    config_dir = copy_shipped_config(root / "config")
    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    text = gateway_yaml.read_text().replace("server:\n", "server:\n  watch_config: false\n", 1)
    gateway_yaml.write_text(f"{text}\nlogging: {{format: {log_format}, level: debug}}\n")
    return config_dir


def traffic(served: Served, key: str) -> None:
    """Calls that carry the canary everywhere a caller can put it: arguments, tool name, credential, URL, body."""
    headers = {"Authorization": f"Bearer {key}"}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("crm.get_customer", {"customer_id": "C1001"}),
        ("crm.get_customer", {"customer_id": EMAIL}),
        ("crm.update_email", {"customer_id": "C1001", "email": EMAIL}),
        (f"tool.{CANARY}", {"x": EMAIL}),
    ]
    for index, (tool, arguments) in enumerate(calls):
        message = {
            "jsonrpc": "2.0",
            "id": index,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        httpx.post(f"{served.url}/rpc", json=message, headers=headers, timeout=10)
    httpx.post(f"{served.url}/rpc?access_token={CANARY}", json={}, headers=headers, timeout=10)
    httpx.post(f"{served.url}/rpc", json={}, headers={"Authorization": f"Bearer {CANARY}"}, timeout=10)
    httpx.post(f"{served.url}/rpc", content=f'{{"{CANARY}": ', headers=headers, timeout=10)
    httpx.get(f"{served.url}/{CANARY}?q={CANARY}", timeout=10)


@pytest.fixture(scope="module")
def both(
    backend_url: str, demo_keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Served, Served]:
    """JSON from gateway.yaml, and console because CALLGATE_LOG_FORMAT overrides the file; both after traffic."""
    tmp_path = tmp_path_factory.mktemp("logs")
    env = {"CALLGATE_DEMO_BACKEND_URL": backend_url}
    json_served = start(config_with_logging(tmp_path / "json", "json"), tmp_path, env, "--access-log")
    console_served = start(
        config_with_logging(tmp_path / "console", "json"), tmp_path, {**env, "CALLGATE_LOG_FORMAT": "console"}
    )
    try:
        for served in (json_served, console_served):
            wait_ready(served)
            traffic(served, demo_keys["support-agent"])
    finally:
        statuses = [json_served.terminate(), console_served.terminate()]
    assert statuses == [0, 0]
    return json_served, console_served


def test_json_lines_carry_request_and_decision_ids_and_match_the_audit_trail(both: tuple[Served, Served]) -> None:
    served = both[0]
    lines = [json.loads(line) for line in served.log.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    calls = [line for line in lines if line.get("event") == "tool.call"]
    records = {
        record["decision_id"]: record
        for path in sorted(served.audit_dir.glob("*.jsonl"))
        for record in map(json.loads, path.read_text().splitlines())
        if record.get("event") == "tools/call"
    }
    assert len(calls) == len(records) == 4
    for line in calls:
        record = records[line["decision_id"]]  # the log line leads to its audit record
        assert (line["request_id"], line["decision"], line["reason"]) == (
            record["request_id"],
            record["decision"],
            record["reason"],
        )
    # uvicorn's access lines, in the same format, with the request id and without the query string.
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert access and all(line["request_id"] and "?" not in line["path"] for line in access)
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # its own startup lines too


def test_the_console_format_is_readable_lines_with_the_ids(both: tuple[Served, Served]) -> None:
    text = both[1].log.read_text()
    call_lines = [line for line in text.splitlines() if " callgate.calls tool call " in line]
    assert len(call_lines) == 4
    assert all("[request " in line and " decision " in line for line in call_lines)
    assert not any(line.startswith("{") for line in text.splitlines())


def test_no_log_line_holds_what_a_caller_sent(both: tuple[Served, Served]) -> None:
    """Debug level, access log on: arguments, tool names, credentials, URLs and bodies still stay out."""
    for served in both:
        assert CANARY not in served.log.read_text()


def test_the_environment_beats_the_file_and_the_command_line_beats_both() -> None:
    assert resolve("console", "info", {}) == ("console", "info")
    assert resolve("console", "info", {"CALLGATE_LOG_FORMAT": "JSON", "CALLGATE_LOG_LEVEL": "warning"}) == (
        "json",
        "warning",
    )
    assert resolve("json", "info", {"CALLGATE_LOG_LEVEL": "warning"}, level="debug") == ("json", "debug")
    with pytest.raises(ValueError, match="CALLGATE_LOG_FORMAT"):
        resolve("json", "info", {"CALLGATE_LOG_FORMAT": "xml"})


def test_an_exception_in_json_is_its_type_and_frames_never_its_message() -> None:
    try:
        raise ValueError(EMAIL)
    except ValueError:
        record = logging.LogRecord("callgate.x", logging.ERROR, __file__, 1, "failed", None, exc_info=True)
        record.exc_info = __import__("sys").exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["exception"]["type"] == "ValueError" and line["exception"]["frames"]
    assert CANARY not in json.dumps(line)
    assert "ValueError" in ConsoleFormatter().format(record)  # development keeps the whole traceback
