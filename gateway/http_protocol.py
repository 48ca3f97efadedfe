"""The HTTP/1.1 protocol callgate serves with: uvicorn's httptools protocol, with limits on request heads.

uvicorn reads a request head for as long, and as large, as the client likes.
httptools has no size limit of its own (it gathers a 64 MiB header value
whole before uvicorn sees it), and nothing closes a connection that sends its
head slowly, or sends nothing at all, so a few such sockets hold every
``limit_concurrency`` slot. This subclass adds, per connection:

- ``max_header_bytes``: counted as bytes arrive, before the parser has a whole
  header to report; past it the request is answered 431 and the connection
  closed, so at most one read (uvloop reads up to 256 KiB) is held beyond it.
  A complete head is measured once more as parsed (its target and fields with
  their separators), since the read that ends it may hold a body too;
- ``max_headers``: header fields counted as the parser reports them, 431 past it;
- ``header_read_timeout_s``: from the connection's start, or from the first byte
  of a later request on it, until its head is complete. When it passes, the
  connection closes, with a 408 if part of a request had arrived. An idle
  keep-alive connection is still closed by uvicorn's ``timeout_keep_alive``.

A head that begins in the middle of a read (a pipelined request) is counted
from the next read on: it too can pass the byte cap by at most one read.

Every refusal here (431, and the 408 of a head begun but not finished) leaves
one ``request/refused`` record, as refusals at the edge do, though no ASGI app
has seen the request: the gateway's lifespan puts its
:class:`~gateway.audit.refusals.RefusalLog` into the lifespan state under
:data:`REFUSALS_STATE_KEY` too. The record is written first and the answer
sent after it (reading stops meanwhile), and the answer carries the request id
the record names: the client's ``X-Request-Id`` if the head had a sane one,
else a fresh one. A connection closed without a byte of a request is no
request, and leaves no record.

``callgate serve`` names this class by import string, so every worker process
uses it; gateway.serving passes it to the demo's, the tests' and the
benchmark's servers. The limits come from the configuration of the app being
served: the gateway's lifespan puts a :class:`HeadLimits` into the lifespan
state under :data:`LIMITS_STATE_KEY`, which uvicorn hands to every protocol it
creates once started. Other apps (the demo backends) get the defaults.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.audit.refusals import RefusalLog, endpoint_of
from gateway.config import ServerSettings
from gateway.edge import valid_request_id
from gateway.errors import GatewayError, HeadersTooLarge, RequestTimeout, http_status
from gateway.jsonrpc import encode, failure

log = logging.getLogger("callgate.http")

#: The request line and the head's end beyond its target: "POST ", " HTTP/1.1" and three CRLFs, about.
_REQUEST_LINE_EXTRA = 20

#: Where the gateway's lifespan state holds the limits for the protocols of its server.
LIMITS_STATE_KEY = "callgate.head_limits"
#: Where it holds the RefusalLog that audits the refusals made here.
REFUSALS_STATE_KEY = "callgate.refusals"


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """How large, how many fields, and how slow a request head may be."""

    max_bytes: int
    max_fields: int
    read_timeout_s: float

    @classmethod
    def of(cls, server: ServerSettings) -> HeadLimits:
        return cls(server.max_header_bytes, server.max_headers, server.header_read_timeout_s)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing request heads that are too large, too many or too slow."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = app_state.get(LIMITS_STATE_KEY)
        self.head_limits = limits if isinstance(limits, HeadLimits) else HeadLimits.of(ServerSettings())
        refusals = app_state.get(REFUSALS_STATE_KEY)
        self.refusals = refusals if isinstance(refusals, RefusalLog) else None
        self._head_request_id: str | None = None  # the awaited head's X-Request-Id, once seen and if sane
        self._audit_task: asyncio.Task[None] | None = None
        # A connection starts waiting for a head; so does each request once its body has been read.
        self._in_head = True
        self._head_begun = False  # whether a byte of the awaited head has arrived (408 rather than silence)
        self._head_bytes = 0  # raw bytes read while in the head (a read that ends it may hold a body too)
        self._head_parsed = 0  # the head as the parser reported it: target, names, values, separators
        self._head_fields = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._refused = False  # answered and closing: the parser's later callbacks are ignored

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()  # a connection that never sends anything is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        counted = self._in_head
        if counted:
            self._head_bytes += len(data)
            if self._head_deadline is None and self._no_response_pending():
                self._arm_head_deadline()  # a later request on a keep-alive connection: its clock starts now
        super().data_received(data)
        # Still in the head after the whole read: every byte of it, and of the reads before, is head.
        if counted and self._in_head and self._head_bytes > self.head_limits.max_bytes:
            self._refuse(HeadersTooLarge(data={"max_header_bytes": self.head_limits.max_bytes}), "head.too_large")

    # Parser callbacks: count, and ignore whatever follows a refusal in the same read.

    def on_message_begin(self) -> None:
        if not self._refused:
            self._head_begun = True
            self._head_request_id = None
            super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            self._head_parsed += len(url)
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._head_fields += 1
        self._head_parsed += len(name) + len(value) + 4  # ": " and CRLF
        if name.lower() == b"x-request-id":
            self._head_request_id = valid_request_id(value)
        if self._head_fields > self.head_limits.max_fields:
            self._refuse(HeadersTooLarge(data={"max_headers": self.head_limits.max_fields}), "head.too_many_fields")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        if self._head_parsed + _REQUEST_LINE_EXTRA > self.head_limits.max_bytes:
            self._refuse(HeadersTooLarge(data={"max_header_bytes": self.head_limits.max_bytes}), "head.too_large")
            return
        self._in_head = False
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head, self._head_begun = True, False
        self._head_bytes = self._head_parsed = self._head_fields = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Bytes of the next head came while this response was being made: its clock starts now.
        if self._in_head and self._head_begun and self._head_deadline is None and not self.transport.is_closing():
            self._arm_head_deadline()

    # The deadline and the refusal.

    def _no_response_pending(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_limits.read_timeout_s, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_begun:
            self._refuse(RequestTimeout("Request headers not received in time"), "head.timeout")
        else:
            self._refused = True
            self.transport.close()

    def _refuse(self, error: GatewayError, detail: str) -> None:
        """Audit ``error``, then answer it (unless another response is still being written) and close."""
        if self._refused:  # a read can pass two limits at once (the parsed head, then the bytes read)
            return
        self._refused = True
        self._disarm_head_deadline()
        if self.transport.is_closing():
            return
        log.info("request head refused with %s: %s", http_status(error), error.message)
        request_id = self._head_request_id or secrets.token_hex(8)
        if self.refusals is None:
            self._answer(error, request_id)
            return
        self.flow.pause_reading()  # whatever else the client sends is never read
        self._audit_task = self.loop.create_task(self._audit_then_answer(self.refusals, error, detail, request_id))

    async def _audit_then_answer(self, refusals: RefusalLog, error: GatewayError, detail: str, request_id: str) -> None:
        client = self.client
        path = self.url.split(b"?", 1)[0].decode("latin-1") if self._head_begun else ""
        source = str(client[0]) if client else "-"
        endpoint = endpoint_of(path)
        try:
            await refusals.record(error, source=source, endpoint=endpoint, request_id=request_id, detail=detail)
        finally:  # answered and closed whatever happened to the record (a shutdown cancelling it included)
            if not self.transport.is_closing():
                self._answer(error, request_id)

    def _answer(self, error: GatewayError, request_id: str) -> None:
        if self._no_response_pending():
            body = encode(failure(None, error))
            head = [STATUS_LINE[http_status(error)]]
            head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
            head += [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"x-request-id: " + request_id.encode() + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + body)
        self.transport.close()
