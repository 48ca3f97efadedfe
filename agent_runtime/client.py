"""A gateway client for agents: MCP Streamable HTTP (JSON responses) over httpx.

It opens a session with ``initialize``, then lists and calls tools. A gateway
refusal is not an exception: it comes back as a :class:`CallOutcome` the agent
(or its model) can read and act on. :class:`GatewayError` means the gateway
could not be reached or did not speak MCP.

Two ways to call a tool:

- :meth:`GatewayClient.call_tool` sends one request and returns what the
  gateway answered, refusals included (the demo shows each decision this way).
- :meth:`GatewayClient.call_tool_waiting` is what an agent uses: it waits out
  refusals that pass by themselves and returns the final outcome, with the
  waits it made in :attr:`CallOutcome.waits`:

  - -31429 (rate limited) and -31503 (circuit open, backend busy, store down):
    sleep ``retry_after_s`` and send the call again, a bounded number of
    times, never waiting longer than ``WaitPolicy.max_retry_after_s`` at once;
  - -31202 (``approval.pending``): repeat the same call with the same
    arguments every ``poll_s``, carrying the approval id in
    ``params._meta["callgate/approval_id"]``, until the gateway executes it or
    says ``approval.denied`` / ``approval.expired`` / ``approval.mismatch``
    (-31403); bounded by ``max_approval_wait_s`` and never past the request's
    ``expires_at``.

  No wait runs past the ``deadline`` the caller passes (the agent's wall clock).

Every ``tools/list`` and ``tools/call`` carries the conversation id, when one is
set, as ``params._meta["callgate/conversation_id"]``, so the gateway's audit
records of one task can be found together.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx

PROTOCOL_VERSION = "2025-11-25"

CONVERSATION_META = "callgate/conversation_id"
APPROVAL_META = "callgate/approval_id"

RATE_LIMITED = -31429
UNAVAILABLE = -31503
APPROVAL_PENDING = -31202

#: Wait for a -31429/-31503 this long when the gateway gives no retry_after_s.
_DEFAULT_RETRY_AFTER_S = 1.0


@dataclass(frozen=True, slots=True)
class Wait:
    """One pause :meth:`GatewayClient.call_tool_waiting` made before sending a call again."""

    #: Why: ``ratelimit.exceeded``, ``backend.unavailable``, ``store.unavailable`` or ``approval.pending``.
    reason: str | None
    waited_s: float
    approval_id: str | None = None
    #: How many pauses of this kind in a row this one stands for (each followed by the call sent again).
    attempts: int = 1


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
    #: The refusal's ``data`` besides its reason (``errors``, ``entities``, ``approval_id`` ...).
    data: dict[str, Any] = field(default_factory=dict)
    #: A pending approval: its id and when it expires (RFC 3339), from ``data``.
    approval_id: str | None = None
    expires_at: str | None = None
    #: The pauses made before this outcome (only :meth:`GatewayClient.call_tool_waiting` makes any).
    waits: tuple[Wait, ...] = ()

    @property
    def is_tool_error(self) -> bool:
        return self.result is not None and bool(self.result.get("isError"))

    @property
    def text(self) -> str:
        """The result's text, or the refusal's message: what a model would read."""
        if self.result is not None:
            return "\n".join(block.get("text", "") for block in self.result.get("content", []))
        return f"refused ({self.reason}): {self.message}"

    @property
    def waited_s(self) -> float:
        return sum(wait.waited_s for wait in self.waits)


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """How long :meth:`GatewayClient.call_tool_waiting` may wait, in all and at once."""

    #: Sends again after -31429 / -31503, at most this many times per call.
    max_retries: int = 3
    #: A refusal asking for a longer pause than this is returned at once (the model may do something else).
    max_retry_after_s: float = 30.0
    #: Approval polling: the interval, and the bound on the whole wait.
    poll_s: float = 2.0
    max_approval_wait_s: float = 300.0


class GatewayError(Exception):
    """The gateway could not be reached or did not speak MCP."""


class GatewayClient:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        conversation_id: str | None = None,
        waits: WaitPolicy | None = None,
    ):
        self._url = url.rstrip("/") + "/mcp"
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json, text/event-stream"}
        # trust_env=False: no proxy or certificate settings from the environment; only this URL is ever contacted.
        self._client = client or httpx.AsyncClient(timeout=timeout_s, trust_env=False)
        self._owns_client = client is None
        self._ids = itertools.count(1)
        self.session_id: str | None = None
        self.protocol_version = PROTOCOL_VERSION
        self.server_info: dict[str, Any] = {}
        #: Sent on every tools/list and tools/call (params._meta), so the gateway can group the audit records.
        self.conversation_id = conversation_id
        self.waits = waits or WaitPolicy()

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> CallOutcome:
        """Open an MCP session; the outcome says why when the gateway refuses."""
        self.session_id = None
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

    async def list_tools(self, *, deadline: float | None = None) -> list[dict[str, Any]]:
        """The tools this agent may call; rate-limit and busy refusals are waited out like a call's."""
        outcome = await self._waiting(lambda _approval: self._request("tools/list", self._params({})), deadline)
        if not outcome.ok or outcome.result is None:
            raise GatewayError(f"tools/list refused: {outcome.reason}")
        tools: list[dict[str, Any]] = outcome.result.get("tools", [])
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, approval_id: str | None = None
    ) -> CallOutcome:
        """One ``tools/call`` request; ``approval_id`` repeats a call a human was asked to approve."""
        params = self._params({"name": name, "arguments": arguments or {}}, approval_id)
        return await self._request("tools/call", params)

    async def call_tool_waiting(
        self, name: str, arguments: dict[str, Any] | None = None, *, deadline: float | None = None
    ) -> CallOutcome:
        """A call, with passing refusals and approval waits waited out (bounded); ``deadline`` is monotonic time."""
        return await self._waiting(lambda approval: self.call_tool(name, arguments, approval_id=approval), deadline)

    async def close(self) -> None:
        if self.session_id is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._client.delete(self._url, headers=self._session_headers())
            self.session_id = None
        if self._owns_client:
            await self._client.aclose()

    async def _waiting(
        self, send: Callable[[str | None], Awaitable[CallOutcome]], deadline: float | None
    ) -> CallOutcome:
        policy = self.waits
        waits: list[Wait] = []
        retries = 0
        approval_id: str | None = None
        approval_bound: float | None = None
        while True:
            outcome = await send(approval_id)
            pause: float | None = None
            if outcome.error_code in (RATE_LIMITED, UNAVAILABLE) and retries < policy.max_retries:
                asked = outcome.retry_after_s if outcome.retry_after_s is not None else _DEFAULT_RETRY_AFTER_S
                if asked <= policy.max_retry_after_s:
                    pause, retries = max(asked, 0.0), retries + 1
            elif outcome.error_code == APPROVAL_PENDING and outcome.approval_id is not None:
                approval_id = outcome.approval_id
                if approval_bound is None:
                    approval_bound = time.monotonic() + policy.max_approval_wait_s
                    expires_in = _seconds_until(outcome.expires_at)
                    if expires_in is not None:
                        approval_bound = min(approval_bound, time.monotonic() + expires_in)
                left = approval_bound - time.monotonic()
                # Polling stops at the bound; the last poll lands on it, so an expiry is reported as such.
                pause = min(policy.poll_s, left) if left > 0 else None
            if pause is not None and deadline is not None and time.monotonic() + pause > deadline:
                pause = None  # the agent's wall clock comes first
            if pause is None:
                return replace(outcome, waits=tuple(waits))
            await asyncio.sleep(pause)
            wait = Wait(outcome.reason, pause, approval_id if outcome.error_code == APPROVAL_PENDING else None)
            if waits and (waits[-1].reason, waits[-1].approval_id) == (wait.reason, wait.approval_id):
                # Polls for one approval (or retries for one reason) in a row read best as one wait.
                wait = Wait(wait.reason, waits[-1].waited_s + pause, wait.approval_id, waits.pop().attempts + 1)
            waits.append(wait)

    def _params(self, params: dict[str, Any], approval_id: str | None = None) -> dict[str, Any]:
        meta: dict[str, str] = {}
        if self.conversation_id is not None:
            meta[CONVERSATION_META] = self.conversation_id
        if approval_id is not None:
            meta[APPROVAL_META] = approval_id
        return {**params, "_meta": meta} if meta else params

    async def _request(self, method: str, params: dict[str, Any]) -> CallOutcome:
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        response = await self._post(message)
        if response.status_code == 404 and method != "initialize" and self.session_id is not None:
            # The session expired or its gateway restarted: open a new one and send the request once more.
            reconnected = await self.connect()
            if not reconnected.ok:
                return reconnected
            response = await self._post({**message, "id": next(self._ids)})
        try:
            body = response.json()
        except ValueError:
            raise GatewayError(f"gateway answered HTTP {response.status_code} without JSON") from None
        if method == "initialize" and "mcp-session-id" in response.headers:
            self.session_id = response.headers["mcp-session-id"]
        if isinstance(body, dict) and "result" in body:
            return CallOutcome(ok=True, result=body["result"], http_status=response.status_code)
        error = body.get("error", {}) if isinstance(body, dict) else {}
        data = error.get("data") if isinstance(error, dict) else None
        data = data if isinstance(data, dict) else {}
        return CallOutcome(
            ok=False,
            error_code=error.get("code") if isinstance(error, dict) else None,
            reason=_string(data.get("reason")),
            message=error.get("message") if isinstance(error, dict) else None,
            http_status=response.status_code,
            retry_after_s=_seconds(data.get("retry_after_s")),
            data={key: value for key, value in data.items() if key != "reason"},
            approval_id=_string(data.get("approval_id")),
            expires_at=_string(data.get("expires_at")),
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


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _seconds_until(timestamp: str | None) -> float | None:
    """Seconds from now until an RFC 3339 time (``Z`` or an offset); None when absent or unreadable."""
    if timestamp is None:
        return None
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # RFC 3339 always carries an offset; a naive time is not trusted
    return moment.timestamp() - time.time()
