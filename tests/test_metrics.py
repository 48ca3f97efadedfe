"""``GET /metrics``: Prometheus exposition of calls, latency and reloads, and nothing about who called."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import UNKNOWN_TOOL, Metrics
from gateway.observe import STAGE_SAMPLE_EVERY
from tests.conftest import GatewayFactory, RunningGateway
from tests.stages.test_ratelimit import HOUR, config_dir
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


# --- what operators watch: stages, backends, circuits, slots, the edge, the trail, the store ---------


def samples(gateway: RunningGateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_every_stage_is_timed_on_a_sample_of_calls(gateway: RunningGateway) -> None:
    """One call in STAGE_SAMPLE_EVERY goes through the per-stage timers; each stage has its own series."""
    for _ in range(STAGE_SAMPLE_EVERY * 2):
        assert gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}}).is_success
    for stage in ("audit", "budget", "resolve", "authorize", "validate", "rate_limit", "breaker", "invoke"):
        assert metric(gateway, "callgate_stage_duration_seconds_count", stage=stage) == 2, stage


def test_each_backend_attempt_is_timed_by_backend_and_outcome(gateway: RunningGateway) -> None:
    for _ in range(3):
        assert gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}}).is_success
    backend = "python:gateway.demo.tools:current_time"
    call(gateway, "clock.now")
    assert metric(gateway, "callgate_backend_request_duration_seconds_count", backend=backend, outcome="ok") == 1
    crm = [
        value
        for (name, labels), value in samples(gateway).items()
        if name == "callgate_backend_request_duration_seconds_count" and ("outcome", "ok") in labels
    ]
    assert sorted(crm) == [1.0, 3.0]


def test_circuit_state_and_concurrency_are_exported_per_backend(gateway: RunningGateway) -> None:
    backend = "service:reports"
    assert metric(gateway, "callgate_circuit_state", backend=backend, state="closed") == 1
    assert metric(gateway, "callgate_circuit_state", backend=backend, state="open") == 0
    for _ in range(6):  # the reports backend always fails: its circuit opens after 5 (the default threshold)
        gateway.rpc("tools/call", {"name": "reports.daily", "arguments": {}}, role="sales-agent")
    assert metric(gateway, "callgate_circuit_state", backend=backend, state="open") == 1
    assert metric(gateway, "callgate_backend_in_flight", backend=backend) == 0
    assert metric(gateway, "callgate_backend_queued", backend=backend) == 0


def test_responses_are_counted_by_endpoint_and_status_refusals_at_the_edge_included(gateway: RunningGateway) -> None:
    httpx.post(f"{gateway.url}/rpc", json={}, headers={"Authorization": "Bearer wrong"}, timeout=10)
    httpx.get(f"{gateway.url}/made/up/path/C1001", timeout=10)
    assert metric(gateway, "callgate_http_responses_total", endpoint="/rpc", status="401") == 1
    assert metric(gateway, "callgate_http_responses_total", endpoint="other", status="404") == 1
    assert not any("made" in str(labels) for _, labels in samples(gateway))


def test_rate_limit_refusals_are_counted_by_method(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    gateway = start_gateway(config_dir(tmp_path, {}, {"clock.now": {"requests": 1, "per_s": HOUR}}))
    call(gateway, "clock.now")
    call(gateway, "clock.now")
    assert metric(gateway, "callgate_rate_limit_refusals_total", method="tools/call") == 1


def test_audit_writes_and_syncs_are_timed_and_the_queue_is_exported(gateway: RunningGateway) -> None:
    call(gateway, "clock.now")
    assert metric(gateway, "callgate_audit_write_duration_seconds_count") >= 1
    assert metric(gateway, "callgate_audit_fsync_duration_seconds_count") >= 1  # durability: fsync (shipped)
    assert ("callgate_audit_queue_depth", ()) in samples(gateway)


def test_store_state_and_errors_and_approvals_are_read_at_scrape() -> None:
    metrics = Metrics()
    errors = [0]
    metrics.watch_store("redis", lambda: errors[0] == 0, errors=lambda: errors[0])
    metrics.watch_approvals(lambda: 3)
    errors[0] = 2
    value = metrics.registry.get_sample_value
    assert value("callgate_store_errors_total", {"store": "redis"}) == 2
    assert value("callgate_store_up", {"store": "redis"}) == 0
    assert value("callgate_approvals_pending") == 3


def test_labels_never_carry_argument_values(gateway: RunningGateway) -> None:
    canary = "canary-7f3a@example.com"
    gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": canary}})
    gateway.rpc("tools/call", {"name": canary, "arguments": {"x": canary}})
    assert canary not in httpx.get(f"{gateway.url}/metrics", timeout=10).text
