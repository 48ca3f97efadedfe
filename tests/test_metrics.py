"""``GET /metrics``: Prometheus exposition of calls, latency and reloads, and nothing about who called."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import UNKNOWN_TOOL, Metrics
from tests.conftest import RunningGateway
from tests.test_reload import metric, ready_version


def call(gateway: RunningGateway, tool: str, role: str = "support-agent") -> None:
    assert gateway.rpc("tools/call", {"name": tool, "arguments": {}}, role=role).status_code == 200


def test_metrics_count_tool_calls_by_tool_decision_and_reason(gateway: RunningGateway) -> None:
    for _ in range(3):
        call(gateway, "clock.now")
    call(gateway, "billing.issue_refund")
    calls = "callgate_tool_calls_total"
    assert metric(gateway, calls, tool="clock.now", decision="allowed", reason="ok") == 3
    assert metric(gateway, calls, tool="billing.issue_refund", decision="refused", reason="policy.denied") == 1


def test_latency_is_a_histogram_per_tool(gateway: RunningGateway) -> None:
    call(gateway, "clock.now")
    call(gateway, "clock.now")
    assert metric(gateway, "callgate_tool_call_duration_seconds_count", tool="clock.now") == 2
    assert metric(gateway, "callgate_tool_call_duration_seconds_bucket", tool="clock.now", le="+Inf") == 2
    assert metric(gateway, "callgate_tool_call_duration_seconds_sum", tool="clock.now") > 0


def test_tool_names_no_configuration_knows_share_one_label(gateway: RunningGateway) -> None:
    """Callers choose tool names; they must not be able to mint one time series per name."""
    for name in ("made.up.one", "made.up.two"):
        call(gateway, name)
    families = text_string_to_metric_families(httpx.get(f"{gateway.url}/metrics", timeout=10).text)
    tools = {sample.labels.get("tool") for family in families for sample in family.samples}
    assert "made.up.one" not in tools
    assert metric(gateway, "callgate_tool_calls_total", tool=UNKNOWN_TOOL, reason="protocol.invalid_params") == 2


def test_the_configuration_in_force_is_exported_with_its_version(gateway: RunningGateway) -> None:
    assert metric(gateway, "callgate_config_info", version=ready_version(gateway)) == 1


def test_exposition_names_no_caller(gateway: RunningGateway) -> None:
    call(gateway, "clock.now")
    response = httpx.get(f"{gateway.url}/metrics", timeout=10)
    assert response.headers["content-type"].startswith("text/plain")
    for private in ("support-bot", "acme", gateway.keys["support-agent"]):
        assert private not in response.text


def test_each_metrics_object_has_a_registry_of_its_own() -> None:
    """Several gateways in one process (tests, the benchmark) must not share or collide on series."""
    first, second = Metrics(), Metrics()
    first.for_tools(["clock.now"]).observe("clock.now", "allowed", "ok", 0.001)
    assert first.registry.get_sample_value("callgate_tool_calls_total", _labels("clock.now")) == 1
    assert second.registry.get_sample_value("callgate_tool_calls_total", _labels("clock.now")) is None


def test_a_new_version_replaces_the_old_info_series() -> None:
    metrics = Metrics()
    metrics.config_in_force("aaaa")
    metrics.config_in_force("bbbb")
    assert metrics.registry.get_sample_value("callgate_config_info", {"version": "aaaa"}) is None
    assert metrics.registry.get_sample_value("callgate_config_info", {"version": "bbbb"}) == 1


def _labels(tool: str) -> dict[str, str]:
    return {"tool": tool, "decision": "allowed", "reason": "ok"}
