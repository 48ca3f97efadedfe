"""The conformance configuration (conformance/config) and its baseline: safe to ship, and held to their rules."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from gateway.app import Listener, check_listener
from gateway.config import ConfigError, load_config
from tests.conftest import REPO_ROOT, GatewayFactory

CONFIG = REPO_ROOT / "conformance" / "config"
sys.path.insert(0, str(REPO_ROOT / "conformance"))
import run as conformance_run  # noqa: E402  (conformance/run.py is a script, not a package)

FIXTURE_TOOLS = {
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_error_handling",
    "test_tool_with_progress",
    "test_custom_header",
    "json_schema_2020_12_tool",
}


def test_the_configuration_serves_the_suites_fixture_tools() -> None:
    assert set(load_config(CONFIG, env={}).tools) == FIXTURE_TOOLS


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "callgate.example.com"])
def test_the_loopback_principal_is_refused_beyond_loopback(host: str) -> None:
    config = load_config(CONFIG, env={})
    with pytest.raises(ConfigError) as refused:
        check_listener(config, Listener(host))
    assert refused.value.json_path == "$.principals.loopback_anonymous"
    assert refused.value.file.name == "gateway.yaml"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_loopback_principal_is_accepted_on_loopback(host: str) -> None:
    check_listener(load_config(CONFIG, env={}), Listener(host))


def test_the_shipped_configuration_has_no_loopback_principal() -> None:
    assert load_config(REPO_ROOT, env={}).gateway.loopback_anonymous is None


def test_a_request_without_credentials_is_the_loopback_principal_and_a_wrong_one_is_refused(
    start_gateway: GatewayFactory,
) -> None:
    gateway = start_gateway(CONFIG)
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "test_simple_text"}}
    session = _session(gateway.url)
    answer = httpx.post(f"{gateway.url}/mcp", json=message, headers={"Mcp-Session-Id": session}, timeout=10)
    assert answer.json()["result"]["content"][0]["text"].startswith("This is a simple text")
    (record,) = [r for r in gateway.audit_records() if r.get("tool") == "test_simple_text"]
    assert (record["subject"], record["decision"]) == ("conformance-suite", "allowed")
    wrong = httpx.post(f"{gateway.url}/mcp", json=message, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401


def _session(url: str) -> str:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    response = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    return response.headers["mcp-session-id"]


def test_the_committed_baseline_follows_its_rules() -> None:
    expected = conformance_run.load_baseline(REPO_ROOT / "conformance" / "baseline.yaml")
    assert set(expected) == {"2025-11-25", "2026-07-28"}
    listed = {name for names in expected.values() for name in names}
    # Everything a tool gateway does passes: none of these, wholesale, may ever be expected to fail.
    tool_gateway = {"tools-list", "tools-call-simple-text", "tools-call-image", "tools-call-audio", "tools-call-error"}
    tool_gateway |= {"tools-call-embedded-resource", "tools-call-mixed-content", "tools-call-with-progress"}
    tool_gateway |= {"server-stateless", "caching", "dns-rebinding-protection", "server-initialize", "ping"}
    assert not listed & tool_gateway


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{check: tools-list, capability: tools, reason: slow}", "not a capability"),
        ("{check: prompts-list, capability: prompts, reason: ' '}", "reason is empty"),
        ("{check: prompts-list, capability: prompts}", "exactly check, capability and reason"),
    ],
)
def test_a_baseline_entry_outside_the_rules_is_refused(tmp_path: Path, entry: str, problem: str) -> None:
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(f'"2026-07-28":\n  - {entry}\n')
    with pytest.raises(conformance_run.BaselineError, match=problem):
        conformance_run.load_baseline(baseline)
