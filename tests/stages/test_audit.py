"""The audit stage: every ``tools/call``, allowed or refused, leaves exactly one record, and no argument value."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.audit import AuditWriter
from gateway.auth import Principal
from gateway.errors import AuditUnavailable
from gateway.pipeline import ToolCall, ToolResult, compose
from gateway.stages import Audit
from tests.conftest import RunningGateway

#: Sent as an argument value in every call below; it must never reach the audit trail.
MARKER = "zq-audit-marker-7731"

#: (request id, role, tool, arguments, decision, reason): one of each outcome a call can have.
CALLS: list[tuple[str, str, str, dict[str, Any], str, str]] = [
    ("allowed", "support-agent", "crm.get_customer", {"customer_id": "C1001"}, "allowed", "ok"),
    ("allowed-search", "support-agent", "docs.search", {"query": MARKER}, "allowed", "ok"),
    (
        "denied",
        "support-agent",
        "billing.issue_refund",
        {"customer_id": "C1001", "amount": 5, "currency": "EUR", "reason": MARKER},
        "refused",
        "policy.denied",
    ),
    ("schema", "support-agent", "crm.get_customer", {"customer_id": MARKER}, "refused", "schema.invalid"),
    ("unknown-tool", "support-agent", "crm.no_such_tool", {"note": MARKER}, "refused", "protocol.invalid_params"),
    ("not-found", "support-agent", "crm.get_customer", {"customer_id": "C9999"}, "tool_error", "backend.tool_error"),
    ("backend-500", "sales-agent", "reports.daily", {}, "failed", "backend.bad_response"),
]


def call(gateway: RunningGateway, request_id: str, role: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    message = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": tool, "arguments": arguments}, "id": 1}
    headers = gateway.headers(role, **{"X-Request-Id": request_id})
    return httpx.post(f"{gateway.url}/rpc", json=message, headers=headers, timeout=10)


@pytest.fixture
def audited(gateway: RunningGateway) -> RunningGateway:
    """A gateway that has served every call in :data:`CALLS`, plus methods that are not tool calls."""
    for request_id, role, tool, arguments, _, _ in CALLS:
        assert call(gateway, request_id, role, tool, arguments).status_code == 200
    assert gateway.rpc("tools/list").status_code == 200
    assert gateway.rpc("ping").status_code == 200
    return gateway


def calls(gateway: RunningGateway) -> list[dict[str, Any]]:
    return [record for record in gateway.audit_records() if record["event"] == "tools/call"]


def test_every_tool_call_leaves_exactly_one_record(audited: RunningGateway) -> None:
    request_ids = [record["request_id"] for record in calls(audited)]
    assert sorted(request_ids) == sorted(request_id for request_id, *_ in CALLS)


def test_a_listing_leaves_one_record_with_how_many_tools_it_showed(audited: RunningGateway) -> None:
    (listing,) = [record for record in audited.audit_records() if record["event"] == "tools/list"]
    assert (listing["subject"], listing["decision"], listing["reason"]) == ("support-bot", "allowed", "ok")
    assert listing["tools_listed"] == len(audited.rpc("tools/list").json()["result"]["tools"])


def test_each_record_carries_the_tool_decision_and_reason(audited: RunningGateway) -> None:
    records = {r["request_id"]: r for r in calls(audited)}
    assert {rid: (r["tool"], r["decision"], r["reason"]) for rid, r in records.items()} == {
        request_id: (tool, decision, reason) for request_id, _, tool, _, decision, reason in CALLS
    }
    for record in records.values():
        assert (record["event"], record["transport"], record["tenant"]) == ("tools/call", "rpc", "acme")
        assert record["config_version"]
        assert record["args_digest"].startswith("hmac-sha256:")
        assert record["method"] == "tools/call" and len(record["decision_id"]) == 32
        assert isinstance(record["latency_us"], int) and record["chain"] and record["prev"].startswith("sha256:")
    assert records["allowed"]["backend_status"] == 200


def test_records_hold_argument_keys_but_never_values(audited: RunningGateway) -> None:
    raw = "".join(segment.read_text() for segment in audited.audit_dir.glob("*.jsonl"))
    assert raw, "no audit segment was written"
    assert MARKER not in raw
    assert "C1001" not in raw
    (denied,) = [r for r in calls(audited) if r["request_id"] == "denied"]
    assert denied["arg_keys"] == ["amount", "currency", "customer_id", "reason"]
    # A key no input schema declares is the caller's text (it could be personal data): counted, never named.
    (unknown,) = [r for r in audited.audit_records() if r["request_id"] == "unknown-tool"]
    assert unknown["arg_keys"] == ["<undeclared>"]


def test_refused_calls_carry_their_error_code(audited: RunningGateway) -> None:
    codes = {r["request_id"]: r["code"] for r in calls(audited)}
    assert codes["denied"] == -31403
    assert codes["schema"] == -32602
    assert codes["unknown-tool"] == -32602
    assert codes["backend-500"] == -31502
    assert codes["allowed"] is None
    assert codes["not-found"] is None


def test_batch_of_tool_calls_leaves_one_record_per_call(gateway: RunningGateway) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "clock.now"}, "id": 1},
        {
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": {"name": "billing.issue_refund", "arguments": {}},
            "id": 2,
        },
        {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "clock.now"}},
    ]
    response = httpx.post(f"{gateway.url}/rpc", json=batch, headers=gateway.headers(), timeout=10)
    assert len(response.json()) == 2
    decisions = sorted((r["tool"], r["decision"]) for r in gateway.audit_records())
    assert decisions == [("billing.issue_refund", "refused"), ("clock.now", "allowed"), ("clock.now", "allowed")]


@pytest.mark.parametrize(
    "params",
    [{"arguments": {}}, {"name": 7}, {"name": "docs.search", "arguments": [1]}, ["docs.search"]],
    ids=["no-name", "name-not-string", "arguments-not-object", "params-not-object"],
)
def test_malformed_tools_call_is_refused_and_audited(gateway: RunningGateway, params: Any) -> None:
    error = gateway.rpc("tools/call", params).json()["error"]
    assert (error["code"], error["data"]["reason"]) == (-32602, "protocol.invalid_params")
    records = gateway.audit_records()
    assert len(records) == 1
    assert (records[0]["decision"], records[0]["reason"]) == ("refused", "protocol.invalid_params")


async def test_call_is_refused_when_its_record_cannot_be_written(tmp_path: Path) -> None:
    """Fail closed: the backend answered, but without a durable record the caller gets no result."""
    writer = AuditWriter(tmp_path, durability="write")
    await writer.start()
    await writer.close()  # the audit trail is gone
    principal = Principal("bot", "acme", ("support-agent",), method="api_key")
    call = ToolCall(request_id="r1", principal=principal, tool_name="t", arguments={}, transport="rpc")

    async def backend(_: ToolCall) -> ToolResult:
        return ToolResult.from_value({"ok": True})

    with pytest.raises(AuditUnavailable):
        await compose([Audit(writer, "v1")], backend)(call)


def test_a_call_is_refused_while_the_trail_cannot_be_written_and_served_again_after(gateway: RunningGateway) -> None:
    """The directory goes away: calls get -32603 audit.unavailable (HTTP 503), counted, /readyz says why; it heals."""
    gateway.check_trail = False  # its segments are deleted on purpose
    assert call(gateway, "before", "support-agent", "crm.get_customer", {"customer_id": "C1001"}).status_code == 200
    for path in gateway.audit_dir.iterdir():
        path.unlink()
    gateway.audit_dir.rmdir()
    for attempt in range(2):  # the first record lands in the removed file (noticed); the next finds no directory
        refused = call(gateway, f"lost-{attempt}", "support-agent", "crm.get_customer", {"customer_id": "C1001"})
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert (error["code"], error["data"]["reason"]) == (-32603, "audit.unavailable")
    ready = httpx.get(f"{gateway.url}/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["reason"].startswith("audit.unavailable: ")
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert "callgate_audit_write_failures_total 2.0" in metrics
    gateway.audit_dir.mkdir()
    for _ in range(100):  # it tries again by itself, so readiness comes back without a call
        if httpx.get(f"{gateway.url}/readyz", timeout=10).status_code == 200:
            break
        time.sleep(0.05)
    else:
        pytest.fail("/readyz did not recover")
    after = call(gateway, "after", "support-agent", "crm.get_customer", {"customer_id": "C1001"}).json()
    assert "result" in after and after["result"]["isError"] is False, after
    assert [r["request_id"] for r in calls(gateway)] == ["after"]
