"""What the ``/rpc`` and ``/mcp`` endpoints share: a lean HTTP exchange, authentication, decoding, responses.

The two endpoints carry every tool call, so they are served as pure ASGI apps
with a minimal request and response instead of Starlette's, whose routing,
exception layers and header objects cost several times callgate's own work on
each call. Everything else (health, readiness) stays on Starlette.

Every request body callgate reads goes through :meth:`Request.body`, which is
therefore where a body that arrives too slowly is cut off (HTTP 408). A
response to a request whose body was not read to its end (refused first, or
cut off) closes the connection: the rest of the body may still be coming, as
slowly as its sender likes, and nobody would read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit.refusals import RefusalLog, endpoint_of
from gateway.auth import Principal
from gateway.errors import (
    GatewayError,
    HttpMethodNotAllowed,
    RequestTimeout,
    Unauthenticated,
    UnsupportedMediaType,
    answer_status,
    http_headers,
    http_status,
)
from gateway.jsonrpc import decode, encode, failure
from gateway.runtime import Runtime


class ClientDisconnected(Exception):
    """The client went away before its request body arrived; there is nobody to answer."""


class Request:
    """The part of an HTTP request the endpoints read: method, headers (first value wins), body."""

    __slots__ = ("_receive", "body_complete", "headers", "method", "refusal", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        # ASGI header names are lower-case bytes; for a repeated header the first one counts, as in Starlette.
        self.headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            self.headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        self._receive = receive
        self.body_complete = False
        #: Why the request was refused before any tool call (credential, body), for its ``request/refused`` record.
        self.refusal: GatewayError | None = None

    async def body(self, timeout_s: float | None = None) -> bytes:
        """The whole body; :class:`RequestTimeout` when it is not all here ``timeout_s`` after this call."""
        deadline = None if timeout_s is None else ReadDeadline(timeout_s)
        chunks: list[bytes] = []
        while True:
            message = await (self._receive() if deadline is None else deadline.receive(self._receive))
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_complete = True
                return b"".join(chunks)

    @property
    def leaves_body_unread(self) -> bool:
        """Whether the client declared a body that was not read to its end."""
        if self.body_complete:
            return False
        return self.headers.get("content-length", "0") != "0" or "transfer-encoding" in self.headers

    @property
    def request_id(self) -> str:
        return str(self.scope.get("state", {}).get("request_id", "-"))

    @property
    def source(self) -> str:
        """The peer's address as the server saw it (a proxy in front shows as itself)."""
        client = self.scope.get("client")
        return str(client[0]) if client else "-"


class Response:
    __slots__ = ("body", "headers", "media_type", "refusal", "status_code")

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
        #: The refusal this response answers for the whole request (set by :func:`error_response`).
        self.refusal: GatewayError | None = None

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


class ReadDeadline:
    """A deadline for reading one request body, with a timer armed only while a read actually waits.

    uvicorn has usually parsed a small body before the app runs, so its ``receive`` returns at once;
    such a read schedules one callback for the next loop iteration and cancels it again, a quarter
    of what ``asyncio.timeout`` costs (it always starts a timer: about 5 µs a request on uvloop). A
    read that does wait is still waiting when that callback comes, which then starts the timer for
    the rest of the deadline. When it fires, the reading task is cancelled and the read raises
    :class:`RequestTimeout`.
    """

    __slots__ = ("_at", "_cancelling", "_expired", "_loop", "_task", "_timer")

    def __init__(self, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._at = self._loop.time() + timeout_s
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a request body is read from a task")
        self._task = task
        self._cancelling = task.cancelling()  # cancel requests already made are someone else's
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    async def receive(self, receive: Receive) -> Message:
        arming = self._loop.call_soon(self._arm)
        try:
            return await receive()
        except asyncio.CancelledError:
            # Our own cancellation becomes the refusal; anyone else's (a shutdown) goes on as it was.
            if self._expired and self._task.uncancel() <= self._cancelling:
                raise RequestTimeout() from None
            raise
        finally:
            arming.cancel()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _arm(self) -> None:
        self._timer = self._loop.call_at(self._at, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handle: Handler, methods: tuple[str, ...], refusals: RefusalLog | None = None) -> ASGIApp:
    """``handle`` as a pure ASGI app that answers 405 for other methods.

    With ``refusals``, a request refused as a whole (its credential, its body, its session, a batch
    where none is allowed: whatever :func:`error_response` answers), or whose credential or body was
    refused whatever the answer, leaves one ``request/refused`` record, written before the answer.
    Refusals inside a JSON-RPC answer (a tool call's, a method's) are the pipeline's to audit.
    """
    allow = ", ".join(methods)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method not in methods:
            response = method_not_allowed(allow)
        else:
            try:
                response = await handle(request)
            except ClientDisconnected:
                return
        if request.leaves_body_unread:
            # Keeping the connection would let a client that was refused (unauthenticated, say) go
            # on dripping its body for ever: uvicorn has no deadline for bytes nobody reads.
            response.headers = {**(response.headers or {}), "Connection": "close"}
        refusal = response.refusal or request.refusal
        if refusal is not None and refusals is not None:
            detail = getattr(refusal, "detail", None)
            await refusals.record(
                refusal,
                source=request.source,
                endpoint=endpoint_of(scope["path"]),
                request_id=request.request_id,
                detail=detail,
            )
        await response.send(send)

    return app


def authenticate(request: Request, runtime: Runtime) -> Principal:
    try:
        # The query string goes along so that a credential in the URL is refused, even beside a valid header.
        return runtime.authenticator.authenticate(request.headers, request.scope.get("query_string", b""))
    except Unauthenticated as exc:
        request.refusal = exc
        raise


async def read_json(request: Request, runtime: Runtime) -> Any:
    """The decoded body; a ParseError (or InvalidRequest) for a non-JSON content type or body."""
    try:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise UnsupportedMediaType()
        # The limits come from the runtime in force, like every per-request setting, so a reload changes them.
        server = runtime.config.gateway.server
        body = await request.body(server.body_read_timeout_s)
        return decode(body, server.max_json_depth, server.max_string_length)
    except GatewayError as exc:
        request.refusal = exc
        raise


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(payload), status_code=status, headers=headers, media_type="application/json")


def answer_response(payload: Any) -> Response:
    """The HTTP response carrying a JSON-RPC answer, its status as gateway.errors.answer_status says."""
    reason = None
    if isinstance(payload, dict) and isinstance(error := payload.get("error"), dict):
        data = error.get("data")
        reason = data.get("reason") if isinstance(data, dict) else None
    return json_response(payload, status=answer_status(reason))


def error_response(
    error: GatewayError,
    request_id: Any = None,
    headers: dict[str, str] | None = None,
    *,
    admin: bool = False,
    audit: bool = True,
) -> Response:
    """The HTTP response for a refusal that ends the whole request (``admin``: on /admin), its status and
    headers as gateway.errors maps them.

    With ``audit``, :func:`endpoint` writes its ``request/refused`` record; without, the caller wrote
    one already (with the principal it refused) or none is due.
    """
    extra = {**(headers or {}), **http_headers(error)}
    response = json_response(failure(request_id, error), status=http_status(error, admin=admin), headers=extra)
    response.refusal = error if audit else None
    return response


def method_not_allowed(allow: str) -> Response:
    """The refusal of an HTTP method the endpoint does not serve; ``allow`` lists those it does.

    Not marked for the audit trail: a client probing for a stream (``GET /mcp``, as MCP clients do
    after initialize) asks what the endpoint offers, and every session would leave a refusal record.
    """
    return error_response(HttpMethodNotAllowed(allow), audit=False)


def request_id_of(request: Request) -> str:
    return request.request_id


def peer_of(request: Request) -> str | None:
    """The connection's peer address for audit records; ``None`` when the server did not say."""
    source = request.source
    return None if source == "-" else source
