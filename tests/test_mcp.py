"""``/mcp``: the Streamable HTTP transport's protocol rules, spoken with raw httpx to a real gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import load_config
from tests.conftest import REPO_ROOT, GatewayFactory, RunningGateway
from tests.stages.test_budget import config_with

LATEST = "2025-11-25"
SUPPORT_TOOLS = {"crm.get_customer", "docs.search", "calendar.list_events", "clock.now"}


def post(
    gateway: RunningGateway,
    message: Any,
    *,
    role: str = "support-agent",
    session: str | None = None,
    **headers: str,
) -> httpx.Response:
    sent = gateway.headers(role, **headers)
    if session is not None:
        sent["Mcp-Session-Id"] = session
    return httpx.post(f"{gateway.url}/mcp", json=message, headers=sent, timeout=10)


def initialize_message(version: str = LATEST, id: Any = 1) -> dict[str, Any]:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "tests", "version": "0"}}
    return {"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params}


def open_session(gateway: RunningGateway, role: str = "support-agent", version: str = LATEST) -> str:
    response = post(gateway, initialize_message(version), role=role)
    assert response.status_code == 200, response.text
    return response.headers["Mcp-Session-Id"]


def request(method: str, params: dict[str, Any] | None = None, id: Any = 7) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def call_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return request("tools/call", {"name": name, "arguments": arguments})


# Handshake


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_initialize_echoes_a_supported_protocol_version(gateway: RunningGateway, version: str) -> None:
    response = post(gateway, initialize_message(version))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["id"] == 1
    assert body["result"]["protocolVersion"] == version
    assert body["result"]["serverInfo"]["name"] == "callgate"
    assert "tools" in body["result"]["capabilities"]


def test_initialize_with_an_unknown_version_answers_the_latest_supported(gateway: RunningGateway) -> None:
    response = post(gateway, initialize_message("2099-01-01"))
    assert response.status_code == 200
    assert response.json()["result"]["protocolVersion"] == LATEST


def test_initialize_issues_a_fresh_unguessable_session_id(gateway: RunningGateway) -> None:
    """Visible ASCII (0x21-0x7E) as the spec requires, long enough to carry at least 128 bits, new each time."""
    first, second = open_session(gateway), open_session(gateway)
    for session_id in (first, second):
        assert len(session_id) >= 32
        assert all(0x21 <= ord(char) <= 0x7E for char in session_id)
    assert first != second


def test_failed_initialize_opens_no_session(gateway: RunningGateway) -> None:
    response = post(gateway, request("initialize", {"capabilities": {}}))
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32602
    assert "Mcp-Session-Id" not in response.headers


def test_negotiated_version_is_accepted_in_the_protocol_version_header(gateway: RunningGateway) -> None:
    session = open_session(gateway, version="2025-06-18")
    response = post(gateway, request("ping"), session=session, **{"MCP-Protocol-Version": "2025-06-18"})
    assert response.status_code == 200
    assert response.json()["result"] == {}


# Sessions


def test_request_without_session_id_is_refused_with_400(gateway: RunningGateway) -> None:
    open_session(gateway)
    response = post(gateway, request("tools/list"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == -32600
    assert body["id"] == 7


def test_request_with_unknown_session_id_is_refused_with_404(gateway: RunningGateway) -> None:
    open_session(gateway)
    response = post(gateway, request("tools/list"), session="no-such-session-0123456789abcdef0123456789")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32600


def test_oversized_session_id_is_refused_with_404(gateway: RunningGateway) -> None:
    response = post(gateway, request("ping"), session="x" * 2048)
    assert response.status_code == 404


def test_session_opened_with_one_key_is_not_found_for_another_key(gateway: RunningGateway) -> None:
    session = open_session(gateway, role="support-agent")
    response = post(gateway, request("tools/list"), role="finance-agent", session=session)
    assert response.status_code == 404
    # The session still belongs to its owner.
    assert post(gateway, request("ping"), role="support-agent", session=session).status_code == 200


def test_unsupported_protocol_version_header_is_refused_with_400(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    response = post(gateway, request("ping"), session=session, **{"MCP-Protocol-Version": "1999-01-01"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


def test_protocol_version_header_other_than_the_negotiated_one_is_refused_with_400(gateway: RunningGateway) -> None:
    session = open_session(gateway, version="2025-11-25")
    response = post(gateway, request("ping"), session=session, **{"MCP-Protocol-Version": "2025-06-18"})
    assert response.status_code == 400


def test_delete_ends_the_session(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    headers = gateway.headers("support-agent", **{"Mcp-Session-Id": session})
    response = httpx.delete(f"{gateway.url}/mcp", headers=headers, timeout=10)
    assert response.status_code == 204
    assert post(gateway, request("ping"), session=session).status_code == 404
    assert httpx.delete(f"{gateway.url}/mcp", headers=headers, timeout=10).status_code == 404


def test_delete_with_another_key_leaves_the_session_open(gateway: RunningGateway) -> None:
    session = open_session(gateway, role="support-agent")
    headers = gateway.headers("sales-agent", **{"Mcp-Session-Id": session})
    assert httpx.delete(f"{gateway.url}/mcp", headers=headers, timeout=10).status_code == 404
    assert post(gateway, request("ping"), session=session).status_code == 200


def test_a_principal_past_its_session_cap_loses_only_its_own_least_recently_used(
    start_gateway: GatewayFactory, store_env: dict[str, str], tmp_path: Path
) -> None:
    """One agent opening session after session pushes out its own oldest, never another agent's."""
    gateway = start_gateway(config_with(tmp_path, server={"max_sessions_per_principal": 3}), **store_env)
    others = open_session(gateway, role="sales-agent")
    mine = [open_session(gateway) for _ in range(3)]
    assert post(gateway, request("ping"), session=mine[0]).status_code == 200  # used: mine[1] is now the oldest
    for _ in range(10):
        mine.append(open_session(gateway))
    alive = [post(gateway, request("ping"), session=session).status_code for session in mine]
    assert alive == [404] * 10 + [200] * 3
    listed = post(gateway, request("tools/list"), role="sales-agent", session=others)
    assert listed.status_code == 200 and "result" in listed.json()


def test_initialize_is_rate_limited_per_principal(gateway_on_both_stores: RunningGateway) -> None:
    """The shipped allowance: at least 20 (the burst; it refills one a second meanwhile), then -31429 with when
    to retry, and no session; other principals are unaffected."""
    gateway = gateway_on_both_stores
    opened = 0
    while "Mcp-Session-Id" in (refused := post(gateway, initialize_message())).headers and opened < 500:
        opened += 1
    assert opened >= 20
    assert refused.status_code == 200
    assert "Mcp-Session-Id" not in refused.headers
    error = refused.json()["error"]
    assert error["code"] == -31429 and error["data"]["reason"] == "ratelimit.exceeded"
    assert 0 < error["data"]["retry_after_s"] <= 1
    assert refused.json()["id"] == 1
    open_session(gateway, role="sales-agent")


@pytest.fixture(params=["memory", "redis"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """No Redis (the memory store), or the suite's real Redis."""
    return {"CALLGATE_REDIS_URL": request.getfixturevalue("redis_url")} if request.param == "redis" else {}


@pytest.fixture
def gateway_on_both_stores(start_gateway: GatewayFactory, store_env: dict[str, str]) -> RunningGateway:
    return start_gateway(**store_env)


def test_delete_without_session_id_is_refused_with_400(gateway: RunningGateway) -> None:
    response = httpx.delete(f"{gateway.url}/mcp", headers=gateway.headers(), timeout=10)
    assert response.status_code == 400


# Message kinds


def test_notification_is_accepted_with_202_and_no_body(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    response = post(gateway, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session=session)
    assert response.status_code == 202
    assert response.content == b""


def test_notification_without_session_id_is_refused_with_400(gateway: RunningGateway) -> None:
    response = post(gateway, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert response.status_code == 400


def test_response_from_the_client_is_accepted_with_202_and_no_body(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    response = post(gateway, {"jsonrpc": "2.0", "id": "s-1", "result": {}}, session=session)
    assert response.status_code == 202
    assert response.content == b""


def test_response_from_the_client_without_session_id_is_refused_with_400(gateway: RunningGateway) -> None:
    response = post(gateway, {"jsonrpc": "2.0", "id": "s-1", "error": {"code": -1, "message": "no"}})
    assert response.status_code == 400


@pytest.mark.parametrize("batch", [[], [{"jsonrpc": "2.0", "id": 1, "method": "ping"}]], ids=["empty", "one"])
def test_batch_is_refused_with_400_and_a_jsonrpc_error(gateway: RunningGateway, batch: list[Any]) -> None:
    session = open_session(gateway)
    response = post(gateway, batch, session=session)
    assert response.status_code == 400
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["code"] == -32600
    assert body["id"] is None


def test_get_is_not_allowed(gateway: RunningGateway) -> None:
    """callgate sends no server-initiated messages, so there is no SSE stream to open."""
    session = open_session(gateway)
    headers = gateway.headers("support-agent", **{"Mcp-Session-Id": session, "Accept": "text/event-stream"})
    response = httpx.get(f"{gateway.url}/mcp", headers=headers, timeout=10)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert response.json()["error"]["code"] == -32600  # a JSON-RPC error from the one tree, like every refusal
    # A client probing for a stream asks what the endpoint offers: no refusal on the trail for it.
    assert [r for r in gateway.audit_records() if r["event"] == "request/refused"] == []


def test_unknown_method_without_session_is_method_not_found(gateway: RunningGateway) -> None:
    """A request in the 2025 style (no 2026-07-28 header or _meta) naming an unknown method gets -32601, HTTP 200."""
    response = post(gateway, request("prompts/list", id="probe"))
    assert response.status_code == 200
    body = response.json()
    assert body["error"]["code"] == -32601
    assert body["error"]["data"]["reason"] == "protocol.method_not_found"
    assert body["id"] == "probe"


def test_ping_answers_an_empty_result(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    response = post(gateway, request("ping", id=42), session=session)
    assert response.status_code == 200
    assert response.json() == {"jsonrpc": "2.0", "result": {}, "id": 42}


# Tools


def listed_tools(gateway: RunningGateway, role: str) -> dict[str, dict[str, Any]]:
    session = open_session(gateway, role=role)
    response = post(gateway, request("tools/list"), role=role, session=session)
    assert response.status_code == 200
    return {tool["name"]: tool for tool in response.json()["result"]["tools"]}


def test_tools_list_shows_only_the_tools_the_role_may_call(gateway: RunningGateway) -> None:
    tools = listed_tools(gateway, "support-agent")
    assert set(tools) == SUPPORT_TOOLS
    assert "billing.issue_refund" not in tools
    assert "crm.update_email" not in tools
    assert tools["crm.get_customer"]["inputSchema"]["required"] == ["customer_id"]


def test_admin_sees_every_shipped_tool(gateway: RunningGateway) -> None:
    shipped = set(load_config(REPO_ROOT, env={}).tools)
    assert set(listed_tools(gateway, "admin")) == shipped


def test_tools_call_returns_the_backend_result(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    response = post(gateway, call_tool("crm.get_customer", {"customer_id": "C1001"}), session=session)
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["name"] == "Ada Lovelace"


def test_schema_violation_is_a_tool_result_listing_the_failing_paths(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    arguments = {"query": "", "limit": 987654}
    response = post(gateway, call_tool("docs.search", arguments), session=session)
    assert response.status_code == 200
    body = response.json()
    assert "error" not in body
    result = body["result"]
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert "$.query" in text
    assert "$.limit" in text


def test_schema_violation_never_echoes_the_offending_value(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    secret = "Z-4111111111111111-ssn-078-05-1120"
    response = post(gateway, call_tool("crm.get_customer", {"customer_id": secret}), session=session)
    result = response.json()["result"]
    assert result["isError"] is True
    assert "$.customer_id" in result["content"][0]["text"]
    assert secret not in response.text
    records = [r for r in gateway.audit_records() if r["tool"] == "crm.get_customer"]
    assert [(r["transport"], r["reason"]) for r in records] == [("mcp", "schema.invalid")]
    assert secret not in json.dumps(records)


def test_policy_denial_is_a_jsonrpc_error_with_reason_policy_denied(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    arguments = {"customer_id": "C1001", "amount": 10, "currency": "EUR"}
    response = post(gateway, call_tool("billing.issue_refund", arguments), session=session)
    assert response.status_code == 200
    body = response.json()
    assert "result" not in body
    assert body["error"]["code"] == -31403
    assert body["error"]["data"]["reason"] == "policy.denied"
    assert body["id"] == 7


def test_policy_denial_comes_before_schema_validation(gateway: RunningGateway) -> None:
    """A caller who may not use a tool learns nothing about its schema."""
    session = open_session(gateway)
    response = post(gateway, call_tool("billing.issue_refund", {"amount": -1}), session=session)
    error = response.json()["error"]
    assert error["code"] == -31403
    assert "amount" not in json.dumps(error)


# Authentication


def test_request_without_credentials_is_refused_with_401_and_www_authenticate(gateway: RunningGateway) -> None:
    response = httpx.post(f"{gateway.url}/mcp", json=initialize_message(), timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert response.json()["error"]["code"] == -31401
    assert "Mcp-Session-Id" not in response.headers


def test_request_with_an_unknown_key_is_refused_with_401(gateway: RunningGateway) -> None:
    headers = {"Authorization": "Bearer not-a-real-key"}
    response = httpx.post(f"{gateway.url}/mcp", json=initialize_message(), headers=headers, timeout=10)
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_delete_without_credentials_is_refused_with_401(gateway: RunningGateway) -> None:
    session = open_session(gateway)
    response = httpx.delete(f"{gateway.url}/mcp", headers={"Mcp-Session-Id": session}, timeout=10)
    assert response.status_code == 401
    assert "www-authenticate" in response.headers
    assert post(gateway, request("ping"), session=session).status_code == 200


def test_browser_request_from_an_unlisted_origin_is_refused_with_403(gateway: RunningGateway) -> None:
    """DNS-rebinding defence: the shipped configuration lists no browser origins."""
    response = post(gateway, initialize_message(), Origin="http://evil.example")
    assert response.status_code == 403
    assert "Mcp-Session-Id" not in response.headers


def test_request_with_null_id_is_invalid_on_mcp(gateway: RunningGateway) -> None:
    """MCP forbids null request ids (plain JSON-RPC on /rpc still allows them)."""
    response = httpx.post(
        f"{gateway.url}/mcp",
        json={"jsonrpc": "2.0", "id": None, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}},
        headers=gateway.headers(),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600
    assert "mcp-session-id" not in response.headers
