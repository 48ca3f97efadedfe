"""A gateway client for agents: MCP Streamable HTTP (JSON responses) over httpx.

It opens a session with ``initialize``, then lists and calls tools. A gateway
refusal is not an exception: it comes back as a :class:`CallOutcome` the agent
(or its model) can read and act on.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import Any

import httpx

PROTOCOL_VERSION = "2025-11-25"


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one tool call came to: a result (maybe a tool error) or a gateway refusal."""

    ok: bool
    result: dict[str, Any] | None = None
    error_code: int | None = None
    reason: str | None = None
    message: str | None = None
    http_status: int = 200
    #: For refusals that pass (rate limited, circuit open, store down): seconds before trying again makes sense.
    retry_after_s: float | None = None

    @property
    def is_tool_error(self) -> bool:
        return self.result is not None and bool(self.result.get("isError"))

    @property
    def text(self) -> str:
        """The result's text, or the refusal's message: what a model would read."""
        if self.result is not None:
            return "\n".join(block.get("text", "") for block in self.result.get("content", []))
        return f"refused ({self.reason}): {self.message}"


class GatewayError(Exception):
    """The gateway could not be reached or did not speak MCP."""


class GatewayClient:
    def __init__(self, url: str, api_key: str, *, timeout_s: float = 30.0, client: httpx.AsyncClient | None = None):
        self._url = url.rstrip("/") + "/mcp"
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json, text/event-stream"}
        self._client = client or httpx.AsyncClient(timeout=timeout_s, trust_env=False)
        self._owns_client = client is None
        self._ids = itertools.count(1)
        self.session_id: str | None = None
        self.protocol_version = PROTOCOL_VERSION
        self.server_info: dict[str, Any] = {}

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> CallOutcome:
        """Open an MCP session; the outcome says why when the gateway refuses."""
        outcome = await self._request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "callgate-agent-runtime", "version": "0.1.0"},
            },
        )
        if outcome.ok and outcome.result is not None:
            self.server_info = outcome.result.get("serverInfo", {})
            self.protocol_version = outcome.result.get("protocolVersion", PROTOCOL_VERSION)
            await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return outcome

    async def list_tools(self) -> list[dict[str, Any]]:
        outcome = await self._request("tools/list", {})
        if not outcome.ok or outcome.result is None:
            raise GatewayError(f"tools/list refused: {outcome.reason}")
        tools: list[dict[str, Any]] = outcome.result.get("tools", [])
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallOutcome:
        return await self._request("tools/call", {"name": name, "arguments": arguments or {}})

    async def close(self) -> None:
        if self.session_id is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._client.delete(self._url, headers=self._session_headers())
            self.session_id = None
        if self._owns_client:
            await self._client.aclose()

    async def _request(self, method: str, params: dict[str, Any]) -> CallOutcome:
        response = await self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        try:
            body = response.json()
        except ValueError:
            raise GatewayError(f"gateway answered HTTP {response.status_code} without JSON") from None
        if method == "initialize" and "mcp-session-id" in response.headers:
            self.session_id = response.headers["mcp-session-id"]
        if isinstance(body, dict) and "result" in body:
            return CallOutcome(ok=True, result=body["result"], http_status=response.status_code)
        error = body.get("error", {}) if isinstance(body, dict) else {}
        data = error.get("data") or {}
        return CallOutcome(
            ok=False,
            error_code=error.get("code"),
            reason=data.get("reason") if isinstance(data, dict) else None,
            message=error.get("message"),
            http_status=response.status_code,
            retry_after_s=_seconds(data.get("retry_after_s")) if isinstance(data, dict) else None,
        )

    async def _post(self, message: dict[str, Any]) -> httpx.Response:
        try:
            return await self._client.post(self._url, json=message, headers=self._session_headers())
        except httpx.HTTPError as exc:
            raise GatewayError(f"gateway unreachable: {type(exc).__name__}") from None

    def _session_headers(self) -> dict[str, str]:
        headers = dict(self._headers)
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
