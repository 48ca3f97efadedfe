"""``/mcp``: the MCP Streamable HTTP transport, protocol versions 2025-06-18 and 2025-11-25 with sessions.

MCP 2026-07-28, stateless, is served on the same endpoint (gateway/mcp_stateless.py): the revision
is chosen per request, as that revision's specification says. A request carrying its per-request
``_meta`` or ``MCP-Protocol-Version: 2026-07-28`` is served statelessly; ``initialize`` opens a
session in one of the 2025 revisions, and every request on that session keeps to it.

- ``initialize`` negotiates the version and opens a session; its id comes from
  a secure random source and is bound to the principal that opened it. Each
  principal holds at most ``server.max_sessions_per_principal`` sessions (one
  more closes its own least recently used) and may open them at the pace of
  ``rate_limits.initialize``.
- Every later message carries ``Mcp-Session-Id`` (400 without it, 404 for an
  unknown one or one that belongs to someone else) and may carry
  ``MCP-Protocol-Version``, which must be the negotiated version.
- Notifications and responses from the client are answered 202 with no body;
  requests get an ``application/json`` response. Batches are refused (400).
- GET is 405 (callgate sends no server-initiated messages); DELETE ends the session.
- A tools/call with ``_meta.progressToken`` from a client that accepts SSE may be answered as a
  stream of progress notifications, then the answer (gateway/mcp_progress.py).
"""

from __future__ import annotations

from typing import Any

from gateway.auth import Principal
from gateway.dispatcher import PROTOCOL_VERSIONS, Dispatcher, RequestContext
from gateway.errors import GatewayError, InvalidRequest, MethodNotFound, SessionNotFound
from gateway.jsonrpc import Request as RpcRequest
from gateway.jsonrpc import answer, failure, parse_request, salvage_id, success
from gateway.mcp_progress import ProgressResponse, progress_token
from gateway.mcp_stateless import StatelessMcp, speaks_stateless
from gateway.runtime import RuntimeHolder
from gateway.sessions import Session, Sessions
from gateway.transport import (
    Request,
    Response,
    answer_response,
    authenticate,
    error_response,
    json_response,
    method_not_allowed,
    peer_of,
    read_json,
    request_id_of,
)

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"


class McpEndpoint:
    def __init__(self, holder: RuntimeHolder, dispatcher: Dispatcher, sessions: Sessions) -> None:
        self._holder = holder
        self._dispatcher = dispatcher
        self._sessions = sessions
        self._stateless = StatelessMcp(holder, dispatcher)

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._post(request)
        if request.method == "DELETE":
            return await self._delete(request)
        return method_not_allowed("POST, DELETE")

    async def _post(self, request: Request) -> Response:
        message: Any = None
        try:
            principal = authenticate(request, self._holder.current)
            message = await read_json(request, self._holder.current)
            return await self._handle(message, principal, request)
        except GatewayError as exc:
            return error_response(exc, request_id=salvage_id(message))

    async def _handle(self, message: Any, principal: Principal, request: Request) -> Response:
        if isinstance(message, list):
            raise InvalidRequest("Batches are not supported on /mcp")
        if speaks_stateless(message, request.headers):
            return await self._stateless.handle(message, principal, request)
        if _is_response(message):
            # callgate sends no requests, so there is nothing to match; the session is still checked.
            await self._session_for(request, principal)
            return Response(status_code=202)
        rpc = parse_request(message)
        if not rpc.is_notification and rpc.id is None:
            raise InvalidRequest("MCP request ids must not be null")
        source = peer_of(request)
        if rpc.method == "initialize" and not rpc.is_notification:
            context = RequestContext(principal, request_id_of(request), "mcp", source=source)
            return await self._initialize(rpc, context)
        if rpc.method not in self._dispatcher.methods and not rpc.is_notification:
            # Answered before the session check, so a client probing for newer
            # methods (such as server/discover) learns cleanly that there are none.
            return json_response(failure(rpc.id, MethodNotFound()))
        session = await self._session_for(request, principal)
        if rpc.is_notification:
            return Response(status_code=202)
        context = RequestContext(
            principal,
            request_id_of(request),
            "mcp",
            session_id=session.id,
            source=source,
            protocol_version=session.protocol_version,
        )

        async def produce() -> Response:
            return answer_response(await answer(message, lambda r: self._dispatcher(r, context)))

        token = progress_token(rpc.params, request.headers) if rpc.method == "tools/call" else None
        return ProgressResponse(token, produce) if token is not None else await produce()

    async def _initialize(self, rpc: RpcRequest, context: RequestContext) -> Response:
        # A refusal (budget, initialize limit, bad params, the store) ends the request before any session
        # exists, so it goes back as the whole response with its own status: 503 when the store is down.
        result = await self._dispatcher(rpc, context)
        cap = self._holder.current.config.gateway.server.max_sessions_per_principal
        session = await self._sessions.open(context.principal, result["protocolVersion"], max_per_principal=cap)
        return json_response(success(rpc.id, result), headers={"Mcp-Session-Id": session.id})

    async def _delete(self, request: Request) -> Response:
        try:
            principal = authenticate(request, self._holder.current)
            session = await self._session_for(request, principal)
        except GatewayError as exc:
            return error_response(exc)
        await self._sessions.close(session)
        return Response(status_code=204)

    async def _session_for(self, request: Request, principal: Principal) -> Session:
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            raise InvalidRequest("Missing Mcp-Session-Id header; send initialize first")
        session = await self._sessions.get(session_id, principal) if len(session_id) <= 128 else None
        if session is None or not session.belongs_to(principal):
            raise SessionNotFound()
        version = request.headers.get(VERSION_HEADER)
        if version is not None and (version not in PROTOCOL_VERSIONS or version != session.protocol_version):
            raise InvalidRequest("Unsupported MCP-Protocol-Version", data={"supported": [session.protocol_version]})
        return session


def _is_response(message: Any) -> bool:
    return isinstance(message, dict) and message.get("jsonrpc") == "2.0" and ("result" in message or "error" in message)
