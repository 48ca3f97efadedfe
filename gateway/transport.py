"""What the ``/rpc`` and ``/mcp`` endpoints share: a lean HTTP exchange, authentication, decoding, responses.

The two endpoints carry every tool call, so they are served as pure ASGI apps
with a minimal request and response instead of Starlette's, whose routing,
exception layers and header objects cost several times callgate's own work on
each call. Everything else (health, readiness) stays on Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import Challenged, Principal
from gateway.auth.authenticator import DEFAULT_CHALLENGE
from gateway.errors import GatewayError, Unauthenticated, UnsupportedMediaType
from gateway.jsonrpc import decode, encode, failure
from gateway.runtime import Runtime


class ClientDisconnected(Exception):
    """The client went away before its request body arrived; there is nobody to answer."""


class Request:
    """The part of an HTTP request the endpoints read: method, headers (first value wins), body."""

    __slots__ = ("_receive", "headers", "method", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        # ASGI header names are lower-case bytes; for a repeated header the first one counts, as in Starlette.
        self.headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            self.headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        self._receive = receive

    async def body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    @property
    def request_id(self) -> str:
        return str(self.scope.get("state", {}).get("request_id", "-"))


class Response:
    __slots__ = ("body", "headers", "media_type", "status_code")

    def __init__(
        self,
        body: bytes = b"",
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.body = body
        self.status_code = status_code
        self.headers = headers
        self.media_type = media_type

    async def send(self, send: Send) -> None:
        raw = [(b"content-length", str(len(self.body)).encode())]
        if self.media_type is not None:
            raw.append((b"content-type", self.media_type.encode()))
        if self.headers:
            raw.extend(
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()
            )
        await send({"type": "http.response.start", "status": self.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handle: Handler, methods: tuple[str, ...]) -> ASGIApp:
    """``handle`` as a pure ASGI app that answers 405 for other methods."""
    allow = ", ".join(methods)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in methods:
            await Response(status_code=405, headers={"Allow": allow}).send(send)
            return
        try:
            response = await handle(Request(scope, receive))
        except ClientDisconnected:
            return
        await response.send(send)

    return app


def authenticate(request: Request, runtime: Runtime) -> Principal:
    # The query string goes along so that a credential in the URL is refused, even beside a valid header.
    return runtime.authenticator.authenticate(request.headers, request.scope.get("query_string", b""))


async def read_json(request: Request, runtime: Runtime) -> Any:
    """The decoded body; a ParseError (or InvalidRequest) for a non-JSON content type or body."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()
    body = await request.body()
    return decode(body, runtime.config.gateway.server.max_json_depth)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(payload), status_code=status, headers=headers, media_type="application/json")


def error_response(error: GatewayError, request_id: Any = None, headers: dict[str, str] | None = None) -> Response:
    """The HTTP response for a refusal that ends the whole request."""
    extra = dict(headers or {})
    if isinstance(error, Unauthenticated):
        # With JWT issuers configured, the challenge points at the RFC 9728 metadata (gateway.auth.metadata).
        extra["WWW-Authenticate"] = error.challenge if isinstance(error, Challenged) else DEFAULT_CHALLENGE
    return json_response(failure(request_id, error), status=error.http_status, headers=extra)


def request_id_of(request: Request) -> str:
    return request.request_id
