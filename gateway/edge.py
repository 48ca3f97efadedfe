"""Pure ASGI middleware at the edge: request id, body size limit, Origin check.

Each passes non-HTTP scopes through untouched and refuses early, before any
body is parsed, with a JSON-RPC error body so that every client can read it.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError, InternalError, InvalidRequest, PayloadTooLarge, error_object
from gateway.jsonrpc import encode

log = logging.getLogger("callgate.edge")

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


async def send_error(send: Send, status: int, error: GatewayError, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """A complete HTTP response whose body is the JSON-RPC error for ``error``."""
    body = encode({"jsonrpc": "2.0", "error": error_object(error), "id": None})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestId:
    """Takes a sane ``X-Request-Id`` from the caller or makes one; echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Ids need to be unique, not secret: a random per-process prefix and a counter cost
        # nothing, where drawing fresh random bytes for every request is a system call.
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        if given is not None and _REQUEST_ID.match(given):
            request_id = given.decode()
        else:
            request_id = f"{self._prefix}{next(self._counter):08x}"
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", encoded)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimit:
    """413 for a body over ``max_bytes``: at once by Content-Length, or as soon as a stream passes it.

    A streamed body that passes the limit raises :class:`PayloadTooLarge` from ``receive``; the
    endpoint reading it answers with that refusal (or, failing that, :class:`LastResort` does).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                # Closing spares the server the body still on its way (at whatever pace its sender likes).
                await send_error(send, 413, self._error(), headers=[(b"connection", b"close")])
                return
            # The server delivers exactly the declared length, so there is nothing left to count.
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(data={"max_bytes": self.max_bytes})


class OriginCheck:
    """403 for a browser request whose ``Origin`` is not allowed (DNS-rebinding and CSRF defence).

    Requests without an Origin header (agents, SDKs, curl) are not affected.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str], paths: tuple[str, ...] = ("/mcp", "/rpc", "/admin")):
        self.app = app
        self.allowed = {origin.rstrip("/").lower().encode() for origin in allowed}
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.paths):
            origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
            if origin is not None and origin.rstrip(b"/").lower() not in self.allowed:
                await send_error(send, 403, InvalidRequest("Origin not allowed"))
                return
        await self.app(scope, receive, send)


class LastResort:
    """Answers a refusal or fault that escaped every handler; a fault becomes -32603 with no internals shown.

    The traceback goes to the log with the request id; the caller sees only the id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except GatewayError as refusal:  # a refusal raised outside any endpoint, e.g. by BodyLimit
            if not started:
                await send_error(send, refusal.http_status, refusal)
        except Exception:
            request_id = scope.get("state", {}).get("request_id", "-")
            log.exception("unhandled fault serving %s (request %s)", scope.get("path", "?")[:100], request_id)
            if not started:
                await send_error(send, 500, InternalError(data={"request_id": request_id}))
