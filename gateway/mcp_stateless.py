"""``/mcp`` in MCP 2026-07-28: no handshake and no session; every request says what it speaks.

A request is served this way when it carries the revision's per-request
``_meta`` (``io.modelcontextprotocol/protocolVersion``) or names 2026-07-28 in
``MCP-Protocol-Version``; ``initialize`` and requests on a session keep the
2025 revisions (gateway/mcp.py). Before anything runs, in this order:

1. ``Mcp-Method`` must be present and equal the body's method (-32020, HTTP 400);
2. ``params._meta`` must hold the protocol version and the client's capabilities, and
   a well-formed client info if any (-32602, HTTP 400);
3. ``MCP-Protocol-Version`` must be present and equal ``_meta``'s version (-32020, HTTP 400);
4. that version must be one callgate serves statelessly (-32022, HTTP 400, with the supported list);
5. the method must exist in this revision: ``initialize``, ``ping``, ``logging/setLevel`` and
   everything callgate does not offer are -32601 with HTTP 404;
6. for ``tools/call``, ``Mcp-Name`` must equal the tool's name and every argument the tool's schema
   marks ``x-mcp-header`` must be mirrored, exactly, in its ``Mcp-Param-*`` header (-32020, HTTP 400).

Then the request goes to the same dispatcher as every other revision:
authentication has already run, and a tool call passes the same pipeline
(budget, policy, schema, rate limits, scrubbing, audit) with
``protocol_version`` 2026-07-28 and no session on its audit record. Every
result carries ``resultType`` and callgate's ``serverInfo``; ``tools/list``
carries caching hints, ``private`` because the list depends on the caller.
"""

from __future__ import annotations

from typing import Any

from gateway.auth import Principal
from gateway.dispatcher import SERVER_INFO, STATELESS_VERSIONS, SUPPORTED_VERSIONS, Dispatcher, RequestContext
from gateway.errors import GatewayError, HeaderMismatch, InvalidMeta, InvalidRequest, UnknownMethod, UnsupportedVersion
from gateway.jsonrpc import Request as RpcRequest
from gateway.jsonrpc import answer, parse_request
from gateway.mcp_headers import HeaderParam, HeaderValueError, decode_value, header_params, header_problem, plain_value
from gateway.mcp_progress import ProgressResponse, progress_token
from gateway.runtime import RuntimeHolder
from gateway.tools import Tool
from gateway.transport import Request, Response, answer_response, peer_of, request_id_of

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
_LOG_LEVELS = frozenset({"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"})

#: How long a client may reuse a tools/list answer. The list changes only when the policy or the tool
#: specs are reloaded, and a stale entry is harmless: every call is decided by the policy in force.
TOOLS_LIST_TTL_MS = 60_000


def speaks_stateless(message: Any, headers: dict[str, str]) -> bool:
    """Whether a request opts into 2026-07-28: its header names that revision, or its ``_meta`` a version."""
    if plain_value(headers.get("mcp-protocol-version")) in STATELESS_VERSIONS:
        return True
    params = message.get("params") if isinstance(message, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and META_VERSION in meta


class StatelessMcp:
    """Checks a 2026-07-28 request's envelope and headers, then answers it through the dispatcher."""

    def __init__(self, holder: RuntimeHolder, dispatcher: Dispatcher) -> None:
        self._holder = holder
        self._dispatcher = dispatcher
        #: Each tool's mirrored arguments, found once per tool spec (a reload brings new specs).
        self._params: dict[str, tuple[object, tuple[HeaderParam, ...]]] = {}

    async def handle(self, message: Any, principal: Principal, request: Request) -> Response:
        rpc = parse_request(message)
        if rpc.is_notification:
            return Response(status_code=202)  # the revision defines none; nothing to do
        if rpc.id is None:
            raise InvalidRequest("MCP request ids must not be null")
        try:
            version = self._check(rpc, request.headers, principal)
        except GatewayError as exc:
            request.refusal = exc  # refused before any tool call: a request/refused audit record
            raise
        context = RequestContext(
            principal, request_id_of(request), "mcp", source=peer_of(request), protocol_version=version
        )

        async def produce() -> Response:
            payload = await answer(message, lambda r: self._dispatcher.stateless(r, context))
            if payload is not None and isinstance(result := payload.get("result"), dict):
                payload["result"] = _complete(rpc.method, result)
            return answer_response(payload)

        token = progress_token(rpc.params, request.headers) if rpc.method == "tools/call" else None
        return ProgressResponse(token, produce) if token is not None else await produce()

    def _check(self, rpc: RpcRequest, headers: dict[str, str], principal: Principal) -> str:
        """The request's protocol version, once its envelope and headers hold; else the refusal."""
        if plain_value(headers.get("mcp-method")) != rpc.method:
            raise HeaderMismatch("Mcp-Method header is missing or does not match the body's method")
        version = _meta_version(rpc.params)
        header_version = plain_value(headers.get("mcp-protocol-version"))
        if header_version != version:
            raise HeaderMismatch("MCP-Protocol-Version header is missing or does not match _meta")
        if version not in STATELESS_VERSIONS:
            raise UnsupportedVersion(data={"supported": list(SUPPORTED_VERSIONS), "requested": version[:128]})
        if rpc.method not in self._dispatcher.stateless_methods:
            raise UnknownMethod()
        if rpc.method == "tools/call" and isinstance(rpc.params, dict):
            self._check_tool_headers(rpc.params, headers, principal)
        return version

    def _check_tool_headers(self, params: dict[str, Any], headers: dict[str, str], principal: Principal) -> None:
        name, arguments = params.get("name"), params.get("arguments")
        if not isinstance(name, str):
            return  # malformed params are refused inside the pipeline, where the refusal is audited
        raw = headers.get("mcp-name")
        try:
            if raw is None or decode_value(raw) != name:
                raise HeaderMismatch("Mcp-Name header is missing or does not match the tool's name")
        except HeaderValueError as exc:
            raise HeaderMismatch(f"Mcp-Name: {exc}") from None
        runtime = self._holder.current
        tool = runtime.tools.get(name)
        # A caller who may not call a tool learns nothing of its schema: the pipeline denies the call anyway.
        if tool is None or not isinstance(arguments, dict) or not runtime.policy.allows(principal, name, "list"):
            return
        problem = header_problem(headers, arguments, self._header_params(tool))
        if problem:
            raise HeaderMismatch(problem)

    def _header_params(self, tool: Tool) -> tuple[HeaderParam, ...]:
        cached = self._params.get(tool.name)
        if cached is None or cached[0] is not tool.spec:
            # The specs were checked at load (gateway.config), so this does not raise here.
            cached = self._params[tool.name] = (tool.spec, header_params(tool.spec.input_schema))
        return cached[1]


def _meta_version(params: Any) -> str:
    """``_meta``'s protocol version, once the required per-request fields are there and well-formed."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        raise InvalidMeta("params._meta is required: protocol version and client capabilities")
    version = meta.get(META_VERSION)
    if not isinstance(version, str) or not version:
        raise InvalidMeta(f"_meta {META_VERSION} must be a protocol version string")
    if not isinstance(meta.get(META_CAPABILITIES), dict):
        raise InvalidMeta(f"_meta {META_CAPABILITIES} must be an object")
    info = meta.get(META_CLIENT_INFO)
    if info is not None and not (
        isinstance(info, dict) and isinstance(info.get("name"), str) and isinstance(info.get("version"), str)
    ):
        raise InvalidMeta(f"_meta {META_CLIENT_INFO} must be an object with a name and a version")
    level = meta.get(META_LOG_LEVEL)
    if level is not None and level not in _LOG_LEVELS:
        raise InvalidMeta(f"_meta {META_LOG_LEVEL} must be a log level")
    return version


def _complete(method: str, result: dict[str, Any]) -> dict[str, Any]:
    """A result as 2026-07-28 wants it: its type, callgate's identity, and caching hints where due."""
    meta = result.get("_meta")
    result["_meta"] = {**(meta if isinstance(meta, dict) else {}), META_SERVER_INFO: SERVER_INFO}
    result["resultType"] = "complete"
    if method == "tools/list":
        # Each caller sees only the tools it may call: a cache must not hand one caller's list to another.
        result["ttlMs"] = TOOLS_LIST_TTL_MS
        result["cacheScope"] = "private"
    return result
