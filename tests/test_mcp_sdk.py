"""The official MCP Python SDK client against a real callgate, in its default mode and in legacy mode.

The default mode (``auto``) probes ``server/discover`` at 2026-07-28; callgate
answers it, so the client stays stateless: no ``initialize``, no session. The
legacy mode opens a 2025-11-25 session with ``initialize``. Both get the same
tools, the same results and the same refusals.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import RunningGateway

DEFAULT, LEGACY = "default", "legacy"
SUPPORT_TOOLS = {"crm.get_customer", "docs.search", "calendar.list_events", "clock.now"}


def make_client(url: str, http: httpx2.AsyncClient, mode: str) -> Client:
    transport = streamable_http_client(f"{url}/mcp", http_client=http)
    # The default mode is the SDK's own default: nothing is passed.
    return Client(transport) if mode == DEFAULT else Client(transport, mode=mode)


@contextlib.asynccontextmanager
async def connect(gateway: RunningGateway, mode: str, role: str = "support-agent") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=gateway.headers(role)) as http,
        make_client(gateway.url, http, mode) as client,
    ):
        yield client


class Wire:
    """Every POST the client sends: method, the 2026-07-28 headers, the session header, the _meta version."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.methods: list[str] = []

    async def record(self, request: httpx2.Request) -> None:
        self.methods.append(request.method)
        if request.method != "POST":
            return
        body = json.loads(request.content)
        meta = (body.get("params") or {}).get("_meta") or {}
        self.posts.append(
            {
                "method": body.get("method"),
                "Mcp-Method": request.headers.get("mcp-method"),
                "Mcp-Name": request.headers.get("mcp-name"),
                "MCP-Protocol-Version": request.headers.get("mcp-protocol-version"),
                "session": request.headers.get("mcp-session-id"),
                "_meta version": meta.get("io.modelcontextprotocol/protocolVersion"),
            }
        )


async def test_sdk_client_in_default_mode_speaks_2026_07_28_without_falling_back(gateway: RunningGateway) -> None:
    wire = Wire()
    http = httpx2.AsyncClient(headers=gateway.headers(), event_hooks={"request": [wire.record]})
    async with http, make_client(gateway.url, http, DEFAULT) as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_info is not None and client.server_info.name == "callgate"
        assert client.server_capabilities.tools is not None
        await client.list_tools()
        await client.call_tool("clock.now", {})
    stateless = {"MCP-Protocol-Version": "2026-07-28", "session": None, "_meta version": "2026-07-28"}
    assert wire.posts == [
        {"method": "server/discover", "Mcp-Method": "server/discover", "Mcp-Name": None, **stateless},
        {"method": "tools/list", "Mcp-Method": "tools/list", "Mcp-Name": None, **stateless},
        {"method": "tools/call", "Mcp-Method": "tools/call", "Mcp-Name": "clock.now", **stateless},
    ]
    assert wire.methods == ["POST", "POST", "POST"]  # no GET stream, no DELETE: there is no session to end


async def test_sdk_client_in_legacy_mode_opens_a_session_and_ends_it(gateway: RunningGateway) -> None:
    wire = Wire()
    exchanges: list[tuple[str, int, str | None]] = []

    async def record(response: httpx2.Response) -> None:
        session = response.request.headers.get("mcp-session-id") or response.headers.get("mcp-session-id")
        exchanges.append((response.request.method, response.status_code, session))

    hooks = {"request": [wire.record], "response": [record]}
    http = httpx2.AsyncClient(headers=gateway.headers(), event_hooks=hooks)
    async with http, make_client(gateway.url, http, LEGACY) as client:
        assert client.protocol_version == "2025-11-25"
        await client.list_tools()
    assert [post["method"] for post in wire.posts] == ["initialize", "notifications/initialized", "tools/list"]
    assert all(post["_meta version"] is None for post in wire.posts)
    sessions = {session for _, _, session in exchanges if session is not None}
    assert len(sessions) == 1
    assert ("DELETE", 204, *sessions) in exchanges
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = gateway.headers(**{"Mcp-Session-Id": sessions.pop()})
    async with httpx.AsyncClient(timeout=10) as raw:
        assert (await raw.post(f"{gateway.url}/mcp", json=ping, headers=headers)).status_code == 404


both_modes = pytest.mark.parametrize("mode", [DEFAULT, LEGACY])


@both_modes
async def test_sdk_client_lists_only_the_tools_the_role_may_call(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        listing = await client.list_tools()
    assert {tool.name for tool in listing.tools} == SUPPORT_TOOLS


@both_modes
async def test_sdk_client_calls_a_tool_and_gets_structured_content(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        await client.list_tools()
        result = await client.call_tool("crm.get_customer", {"customer_id": "C1001"})
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["name"] == "Ada Lovelace"


@both_modes
async def test_sdk_client_receives_a_schema_violation_as_an_error_result(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        result = await client.call_tool("crm.get_customer", {"customer_id": "not-an-id"})
    assert result.is_error is True
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert "$.customer_id" in text
    assert "not-an-id" not in text


@both_modes
async def test_sdk_client_receives_a_policy_denial_as_an_mcp_error(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        with pytest.raises(MCPError) as denied:
            await client.call_tool("billing.issue_refund", {"customer_id": "C1001", "amount": 10, "currency": "EUR"})
        # The client can go on after a refusal.
        assert (await client.call_tool("clock.now", {})).is_error is False
    assert denied.value.code == -31403
    assert denied.value.data["reason"] == "policy.denied"


@both_modes
async def test_sdk_client_calls_are_audited_with_their_protocol_revision(gateway: RunningGateway, mode: str) -> None:
    async with connect(gateway, mode) as client:
        await client.call_tool("clock.now", {})
    expected = "2026-07-28" if mode == DEFAULT else "2025-11-25"
    (record,) = [r for r in gateway.audit_records() if r.get("tool") == "clock.now"]
    assert record["decision"] == "allowed"
    assert record["protocol_version"] == expected
    assert (record["session_id"] is None) == (mode == DEFAULT)
