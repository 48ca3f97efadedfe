"""Pure ASGI middleware at the edge: request id, Host check, Origin check, body size limit.

Each passes non-HTTP scopes through untouched and refuses early, before any
body is parsed, with a JSON-RPC error body so that every client can read it.
Given a :class:`~gateway.audit.refusals.RefusalLog`, each refusal also leaves
one ``request/refused`` record (rate-limited per source address), written
before the answer is sent, as every record is.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import re
import secrets
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit.refusals import RefusalLog, endpoint_of
from gateway.errors import GatewayError, InternalError, PayloadTooLarge, SiteNotAllowed, http_headers, http_status
from gateway.jsonrpc import encode, failure

log = logging.getLogger("callgate.edge")

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")

#: The names a client uses for a server on loopback, as they appear in a Host header (ports aside).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def valid_request_id(given: bytes | None) -> str | None:
    """``given`` as a request id when it is a sane one (1-64 of ``A-Z a-z 0-9 . _ : -``), else None."""
    return given.decode() if given is not None and _REQUEST_ID.match(given) else None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a listen address, or a client's) is loopback only: 127.0.0.0/8, ::1 or localhost.

    Anything else, a wildcard address (0.0.0.0, ::) or any other name included, is not.
    """
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(authority: bytes) -> str | None:
    """The host of a Host header or an Origin's authority, lower-cased and without port; None if malformed."""
    text = authority.decode("latin-1").strip().lower()
    if text.startswith("["):
        name, bracket, rest = text.partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name + "]"
    name, colon, port = text.partition(":")
    if colon and not port.isdigit():
        return None
    name = name.removesuffix(".")
    return name if name and re.fullmatch(r"[a-z0-9.-]+", name) else None


async def send_error(send: Send, error: GatewayError, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """A complete HTTP response whose body is the JSON-RPC error for ``error``, its status as gateway.errors says."""
    body = encode(failure(None, error))
    mapped = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in http_headers(error).items()]
    await send(
        {
            "type": "http.response.start",
            "status": http_status(error),
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *mapped,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def audit_refusal(refusals: RefusalLog | None, scope: Scope, error: GatewayError, detail: str) -> None:
    """One ``request/refused`` record for an edge refusal of the request ``scope`` describes (never raises)."""
    if refusals is None:
        return
    client = scope.get("client")
    await refusals.record(
        error,
        source=str(client[0]) if client else "-",
        endpoint=endpoint_of(scope.get("path", "")),
        request_id=str(scope.get("state", {}).get("request_id", "-")),
        detail=detail,
    )


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
        request_id = valid_request_id(given) or f"{self._prefix}{next(self._counter):08x}"
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

    def __init__(self, app: ASGIApp, max_bytes: int, refusals: RefusalLog | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                # Closing spares the server the body still on its way (at whatever pace its sender likes).
                error = self._error()
                await audit_refusal(self.refusals, scope, error, "body.too_large")
                await send_error(send, error, headers=[(b"connection", b"close")])
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


class HostCheck:
    """403, on every path, for a request whose ``Host`` is not one of ``allowed`` (DNS-rebinding defence).

    A page on a name its attacker controls, rebound to the gateway's address, still sends its own
    name as Host: refused, it reads nothing, not /metrics, not even /healthz. ``allowed`` holds
    exact names (``127.0.0.1``, ``[::1]``, ``callgate.example.com``), ``*.example.com`` for the
    subdomains of a name, or ``*`` for any. A request without a Host header is refused unless ``*``.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str], refusals: RefusalLog | None = None) -> None:
        self.app = app
        self.refusals = refusals
        names = {name.lower().removesuffix(".") for name in allowed}
        self.any = "*" in names
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self.exact = frozenset(name for name in names if not name.startswith("*"))

    def allows(self, host: bytes | None) -> bool:
        if self.any:
            return True
        name = host_name(host) if host is not None else None
        return name is not None and (name in self.exact or name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((v for k, v in scope["headers"] if k == b"host"), None)
            if not self.allows(host):
                error = SiteNotAllowed()
                await audit_refusal(self.refusals, scope, error, "host.not_allowed")
                await send_error(send, error)
                return
        await self.app(scope, receive, send)


class OriginCheck:
    """403 for a browser request whose ``Origin`` is not allowed (DNS-rebinding and CSRF defence).

    Allowed: the origins listed, and, when ``allow_loopback`` (the gateway listens on loopback),
    any http or https origin on a loopback name, whatever its port: a page served from this machine,
    the gateway's own origin included. Requests without an Origin header (agents, SDKs, curl) are
    not affected.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed: Iterable[str],
        allow_loopback: bool = False,
        paths: tuple[str, ...] = ("/mcp", "/rpc", "/admin"),
        refusals: RefusalLog | None = None,
    ) -> None:
        self.app = app
        self.refusals = refusals
        self.allowed = {origin.rstrip("/").lower().encode() for origin in allowed}
        self.allow_loopback = allow_loopback
        self.paths = paths

    def allows(self, origin: bytes) -> bool:
        origin = origin.rstrip(b"/").lower()
        if origin in self.allowed:
            return True
        scheme, separator, authority = origin.partition(b"://")
        if not (self.allow_loopback and separator and scheme in (b"http", b"https")):
            return False
        return host_name(authority) in LOOPBACK_HOSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.paths):
            origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
            if origin is not None and not self.allows(origin):
                error = SiteNotAllowed("Origin not allowed")
                await audit_refusal(self.refusals, scope, error, "origin.not_allowed")
                await send_error(send, error)
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
                await send_error(send, refusal)
        except Exception:
            request_id = scope.get("state", {}).get("request_id", "-")
            log.exception("unhandled fault serving %s (request %s)", scope.get("path", "?")[:100], request_id)
            if not started:
                await send_error(send, InternalError(data={"request_id": request_id}))
