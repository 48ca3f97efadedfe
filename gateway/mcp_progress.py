"""Progress notifications for a ``tools/call`` that asked for them, on every MCP revision.

A client that puts ``_meta.progressToken`` on a call and accepts
``text/event-stream`` may get ``notifications/progress`` before the answer. A
backend reports progress with :func:`report_progress`; callgate relays it. The
report carries numbers only (no message), so nothing the scrub stage has not
seen can reach the caller that way.

The response stays plain JSON, with its own status, unless progress is
reported before the call ends: only then does it become an SSE stream (the
notifications as they come, then the answer). A refusal is therefore always
answered exactly as without a progress token.

The reporter travels in a context variable rather than through the pipeline:
it belongs to one request, the stages never see it, and asyncio hands a
context to every task the call starts. It is the standard carrier for
request-scoped values that must cross code that does not know about them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from starlette.types import Send

from gateway.jsonrpc import encode
from gateway.transport import Response

Reporter = Callable[[float, float | None], None]
_reporter: ContextVar[Reporter | None] = ContextVar("callgate_mcp_progress", default=None)


def report_progress(progress: float, total: float | None = None) -> None:
    """Tell the caller of the current tool call how far it has come; nothing when it asked for no progress."""
    reporter = _reporter.get()
    if reporter is not None:
        reporter(progress, total)


def progress_token(params: Any, headers: Mapping[str, str]) -> str | int | None:
    """The progress token of a tools/call, when its client can receive progress (it accepts SSE)."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    if isinstance(token, bool) or not isinstance(token, str | int):
        return None
    return token if "text/event-stream" in headers.get("accept", "") else None


class ProgressResponse(Response):
    """The answer ``produce`` makes, preceded on an SSE stream by the progress it reports meanwhile."""

    __slots__ = ("_produce", "_token")

    def __init__(self, token: str | int, produce: Callable[[], Awaitable[Response]]) -> None:
        super().__init__()
        self._token = token
        self._produce = produce

    async def send(self, send: Send) -> None:
        pending = _Pending(self._token)
        reset = _reporter.set(pending.report)
        try:
            task = asyncio.ensure_future(self._produce())  # copies the context, with the reporter in it
        finally:
            _reporter.reset(reset)
        try:
            if not await pending.wait(task):
                await self._with_own_headers(task.result()).send(send)
                return
            await send({"type": "http.response.start", "status": 200, "headers": self._sse_headers()})
            while True:
                for message in pending.take():
                    await send({"type": "http.response.body", "body": _event(encode(message)), "more_body": True})
                if not await pending.wait(task):
                    break
            await send({"type": "http.response.body", "body": _event(task.result().body), "more_body": False})
        finally:
            if not task.done():  # the request itself was cancelled (a shutdown): so is the call
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _with_own_headers(self, response: Response) -> Response:
        if self.headers:
            response.headers = {**(response.headers or {}), **self.headers}
        return response

    def _sse_headers(self) -> list[tuple[bytes, bytes]]:
        raw = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        raw.extend(
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (self.headers or {}).items()
        )
        return raw


class _Pending:
    """Progress notifications reported and not yet sent, in order; each must report more than the last."""

    def __init__(self, token: str | int) -> None:
        self._token = token
        self._messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._last = float("-inf")

    def report(self, progress: float, total: float | None) -> None:
        if progress <= self._last:
            return  # the specification wants progress to increase with each notification
        self._last = progress
        params: dict[str, Any] = {"progressToken": self._token, "progress": progress}
        if total is not None:
            params["total"] = total
        self._messages.append({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
        self._arrived.set()

    def take(self) -> list[dict[str, Any]]:
        messages, self._messages = self._messages, []
        self._arrived.clear()
        return messages

    async def wait(self, task: asyncio.Future[Response]) -> bool:
        """Until a notification is waiting (True) or ``task`` is done with none waiting (False)."""
        while not self._messages and not task.done():
            waiter = asyncio.ensure_future(self._arrived.wait())
            either: set[asyncio.Future[Any]] = {task, waiter}
            try:
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        return bool(self._messages)


def _event(payload: bytes) -> bytes:
    return b"event: message\ndata: " + payload + b"\n\n"
