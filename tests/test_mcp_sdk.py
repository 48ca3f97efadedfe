"""The official MCP Python SDK client against a real callgate, in its legacy and auto connect modes.

``auto`` first probes ``server/discover``; callgate answers -32601, so the
client falls back to the ``initialize`` handshake.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import RunningGateway

pytestmark = pytest.mark.parametrize("mode", ["legacy", "auto"])


@contextlib.asynccontextmanager
async def connect(gateway: RunningGateway, mode: str, role: str = "support-agent") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=gateway.headers(role)) as http,
        Client(streamable_http_client(f"{gateway.url}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


async def test_sdk_client_completes_the_handshake(gateway: RunningGateway, mode: str) -> None:
    posted: list[str] = []

    async def record(request: httpx2.Request) -> None:
        if request.method == "POST":
            posted.append(json.loads(request.content)["method"])

    http = httpx2.AsyncClient(headers=gateway.headers(), event_hooks={"request": [record]})
    async with http, Client(streamable_http_client(f"{gateway.url}/mcp", http_client=http), mode=mode) as client:
        assert client.protocol_version == "2025-11-25"
        assert client.session.initialize_result is not None
        assert client.server_info is not None
        assert client.server_info.name == "callgate"
        assert client.server_capabilities.tools is not None
    probe = ["server/discover"] if mode == "auto" else []
    assert posted == [*probe, "initialize", "notifications/initialized"]


async def test_sdk_client_lists_only_the_tools_the_role_may_call(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        listing = await client.list_tools()
    assert {tool.name for tool in listing.tools} == {
        "crm.get_customer",
        "docs.search",
        "calendar.list_events",
        "clock.now",
    }


async def test_sdk_client_calls_a_tool_and_gets_structured_content(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        await client.list_tools()
        result = await client.call_tool("crm.get_customer", {"customer_id": "C1001"})
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["name"] == "Ada Lovelace"


async def test_sdk_client_receives_a_schema_violation_as_an_error_result(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        result = await client.call_tool("crm.get_customer", {"customer_id": "not-an-id"})
    assert result.is_error is True
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert "$.customer_id" in text
    assert "not-an-id" not in text


async def test_sdk_client_receives_a_policy_denial_as_an_mcp_error(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        with pytest.raises(MCPError) as denied:
            await client.call_tool("billing.issue_refund", {"customer_id": "C1001", "amount": 10, "currency": "EUR"})
        # The session survives a refusal.
        assert (await client.call_tool("clock.now", {})).is_error is False
    assert denied.value.code == -31403
    assert denied.value.data["reason"] == "policy.denied"


async def test_sdk_client_ends_its_session_on_close(gateway: RunningGateway, mode: str) -> None:
    """Leaving the client sends DELETE; callgate answers 204 and forgets the session."""
    exchanges: list[tuple[str, int, str | None]] = []

    async def record(response: httpx2.Response) -> None:
        session = response.request.headers.get("mcp-session-id") or response.headers.get("mcp-session-id")
        exchanges.append((response.request.method, response.status_code, session))

    http = httpx2.AsyncClient(headers=gateway.headers(), event_hooks={"response": [record]})
    async with http, Client(streamable_http_client(f"{gateway.url}/mcp", http_client=http), mode=mode) as client:
        await client.list_tools()
    sessions = {session for _, _, session in exchanges if session is not None}
    assert len(sessions) == 1
    assert ("DELETE", 204, *sessions) in exchanges
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = gateway.headers(**{"Mcp-Session-Id": sessions.pop()})
    async with httpx.AsyncClient(timeout=10) as raw:
        assert (await raw.post(f"{gateway.url}/mcp", json=ping, headers=headers)).status_code == 404
