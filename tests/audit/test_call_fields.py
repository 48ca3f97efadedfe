"""What a ``tools/call`` record says of where a call came from, which rule decided it, and its backend time."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx

from gateway.audit.export import Filters, records
from tests.conftest import REPO_ROOT, RunningGateway

MCP_VERSION = "2025-06-18"


def policy_line(text: str) -> str:
    """``policies/policy.csv:N`` for the rule whose line is ``text`` (the file changes; the rule stays)."""
    lines = (REPO_ROOT / "policies" / "policy.csv").read_text().splitlines()
    return f"policies/policy.csv:{lines.index(text) + 1}"


def mcp_session(gateway: RunningGateway) -> str:
    params = {"protocolVersion": MCP_VERSION, "capabilities": {}, "clientInfo": {"name": "tests", "version": "0"}}
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    response = httpx.post(f"{gateway.url}/mcp", json=message, headers=gateway.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["Mcp-Session-Id"]


def tools_call(tool: str, arguments: dict[str, Any], meta: dict[str, str] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": tool, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}


def calls(gateway: RunningGateway) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in gateway.audit_records() if r["event"] == "tools/call"}


def test_an_mcp_call_records_its_source_session_revision_conversation_and_approval(gateway: RunningGateway) -> None:
    session = mcp_session(gateway)
    meta = {"callgate/conversation_id": "task-42", "callgate/approval_id": "apr-7"}
    headers = gateway.headers(**{"Mcp-Session-Id": session, "X-Request-Id": "mcp-call"})
    message = tools_call("crm.get_customer", {"customer_id": "C1001"}, meta)
    assert httpx.post(f"{gateway.url}/mcp", json=message, headers=headers, timeout=10).status_code == 200
    record = calls(gateway)["mcp-call"]
    assert (record["source"], record["session_id"], record["protocol_version"]) == ("127.0.0.1", session, MCP_VERSION)
    assert (record["conversation_id"], record["approval_id"]) == ("task-42", "apr-7")
    assert record["transport"] == "mcp"


def test_an_rpc_call_has_no_session_and_no_revision(gateway: RunningGateway) -> None:
    headers = gateway.headers(**{"X-Request-Id": "rpc-call"})
    message = tools_call("crm.get_customer", {"customer_id": "C1001"})
    httpx.post(f"{gateway.url}/rpc", json=message, headers=headers, timeout=10)
    record = calls(gateway)["rpc-call"]
    assert record["source"] == "127.0.0.1"
    assert (record["session_id"], record["conversation_id"]) == (None, None)  # always there, null: indexable
    assert "protocol_version" not in record and "approval_id" not in record


def test_a_listing_records_where_it_came_from(gateway: RunningGateway) -> None:
    session = mcp_session(gateway)
    headers = gateway.headers(**{"Mcp-Session-Id": session})
    message = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    assert httpx.post(f"{gateway.url}/mcp", json=message, headers=headers, timeout=10).status_code == 200
    (listing,) = [r for r in gateway.audit_records() if r["event"] == "tools/list"]
    assert (listing["source"], listing["session_id"], listing["protocol_version"]) == (
        "127.0.0.1",
        session,
        MCP_VERSION,
    )


def test_the_deciding_rule_is_recorded_for_allowed_and_denied_calls(gateway: RunningGateway) -> None:
    for request_id, role, tool, arguments in (
        ("allowed", "support-agent", "crm.get_customer", {"customer_id": "C1001"}),
        ("denied-by-rule", "support-agent", "billing.issue_refund", {"invoice_id": "INV-1", "amount": 1}),
        ("denied-by-default", "support-agent", "crm.update_email", {"customer_id": "C1001", "email": "a@b.example"}),
    ):
        headers = gateway.headers(role, **{"X-Request-Id": request_id})
        httpx.post(f"{gateway.url}/rpc", json=tools_call(tool, arguments), headers=headers, timeout=10)
    records_ = calls(gateway)
    assert records_["allowed"]["rule"] == policy_line("p, support-agent, acme, crm.get_customer, call, allow")
    assert records_["denied-by-rule"]["rule"] == policy_line("p, support-agent, acme, billing.*, call, deny")
    assert records_["denied-by-rule"]["reason"] == "policy.denied"
    assert "rule" not in records_["denied-by-default"]  # no rule decided: deny by default
    assert records_["denied-by-default"]["reason"] == "policy.denied"


def test_backend_time_and_attempts_are_recorded_when_the_backend_was_called(gateway: RunningGateway) -> None:
    for request_id, tool, arguments in (
        ("called", "crm.get_customer", {"customer_id": "C1001"}),
        ("refused", "billing.issue_refund", {"invoice_id": "INV-1", "amount": 1}),
    ):
        headers = gateway.headers(**{"X-Request-Id": request_id})
        httpx.post(f"{gateway.url}/rpc", json=tools_call(tool, arguments), headers=headers, timeout=10)
    called, refused = calls(gateway)["called"], calls(gateway)["refused"]
    assert called["attempts"] == 1 and called["backend_status"] == 200
    assert 0 < called["backend_us"] <= called["latency_us"]
    assert "backend_us" not in refused and "attempts" not in refused


def test_one_conversations_records_are_exported_together(gateway: RunningGateway) -> None:
    for n, conversation in enumerate(("task-a", "task-b", "task-a", None)):
        meta = {"callgate/conversation_id": conversation} if conversation else None
        gateway.rpc("tools/call", tools_call("crm.get_customer", {"customer_id": "C1001"}, meta)["params"], id=n)
    assert len(list(records(gateway.audit_dir, Filters(conversation="task-a")))) == 2
    response = httpx.get(
        f"{gateway.url}/admin/audit/export",
        params={"conversation": "task-b"},
        headers=gateway.headers("admin"),
        timeout=10,
    )
    exported = [json.loads(line) for line in response.text.splitlines()]
    assert [(r["event"], r["conversation_id"]) for r in exported] == [("tools/call", "task-b")]
    command = [sys.executable, "-m", "gateway", "audit", "export", str(gateway.audit_dir), "--conversation", "task-a"]
    out = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    assert [json.loads(line)["conversation_id"] for line in out.splitlines()] == ["task-a", "task-a"]
