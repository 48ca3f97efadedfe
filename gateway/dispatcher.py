"""The JSON-RPC methods callgate serves, shared by ``/rpc`` and ``/mcp``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway import __version__
from gateway.auth import Principal
from gateway.errors import InvalidParams, MethodNotFound, SchemaInvalid, UnknownMethod
from gateway.jsonrpc import Params, Request
from gateway.pipeline import CallMeta, ToolCall, ToolResult
from gateway.runtime import RuntimeHolder

#: MCP protocol versions callgate speaks with the initialize handshake and sessions, newest first.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18")
#: MCP protocol versions callgate speaks statelessly, each request carrying its own ``_meta``.
STATELESS_VERSIONS = ("2026-07-28",)
#: Every version callgate speaks, newest first: what server/discover and -32022 list.
SUPPORTED_VERSIONS = (*STATELESS_VERSIONS, *PROTOCOL_VERSIONS)

SERVER_INFO = {"name": "callgate", "title": "callgate tool gateway", "version": __version__}
INSTRUCTIONS = "Tools are served by callgate; every call is checked against policy and audited."

#: The ``_meta`` keys callgate reads on tools/call; neither is ever passed to a backend.
CONVERSATION_META = "callgate/conversation_id"
APPROVAL_META = "callgate/approval_id"
#: Both are opaque ids that land on audit records, so they are held to a short, log-safe alphabet.
_META_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    request_id: str
    transport: str
    #: The MCP session the request came in on, once it is checked.
    session_id: str | None = None
    #: The connection's peer address.
    source: str | None = None
    #: The MCP protocol revision in use (``None`` on /rpc).
    protocol_version: str | None = None


Method = Callable[[Params, RequestContext], Awaitable[Any]]


class Dispatcher:
    def __init__(self, holder: RuntimeHolder) -> None:
        self._holder = holder
        # Every method spends from the caller's request budget before it does anything: a loop of
        # tools/list costs the gateway a policy decision per tool, a loop of initialize a session each.
        self.methods: dict[str, Method] = {
            "initialize": self._spending(self.initialize),
            "ping": self._spending(self.ping),
            "tools/list": self._spending(self.list_tools),
            "tools/call": self.call_tool,  # spends in its pipeline (the budget stage), inside audit
        }
        # MCP 2026-07-28 has no handshake and no ping; server/discover takes their place. The other two are
        # looked up in `methods` when called, so whatever wraps them there (the audit of listings) holds here too.
        self.stateless_methods = frozenset({"server/discover", "tools/list", "tools/call"})
        self._discover = self._spending(self.discover)

    async def __call__(self, request: Request, context: RequestContext) -> Any:
        method = self.methods.get(request.method)
        if method is None:
            raise MethodNotFound()
        return await method(request.params, context)

    async def stateless(self, request: Request, context: RequestContext) -> Any:
        """``request`` as MCP 2026-07-28 defines its methods; an unknown or removed one is UnknownMethod (404)."""
        if request.method not in self.stateless_methods:
            raise UnknownMethod()
        method = self._discover if request.method == "server/discover" else self.methods[request.method]
        return await method(request.params, context)

    def _spending(self, method: Method) -> Method:
        """``method``, after one request from the caller's budget (RateLimited when it is spent)."""

        async def spend_then_run(params: Params, context: RequestContext) -> Any:
            await self._holder.current.budget.spend(context.principal)
            return await method(params, context)

        return spend_then_run

    async def initialize(self, params: Params, context: RequestContext) -> dict[str, Any]:
        asked = params.get("protocolVersion") if isinstance(params, dict) else None
        if not isinstance(asked, str):
            raise InvalidParams("initialize needs a protocolVersion")
        # A well-formed initialize opens a session on /mcp: limited per principal on its own, below the budget.
        await self._holder.current.budget.spend_initialize(context.principal)
        return {
            "protocolVersion": asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": SERVER_INFO,
            "instructions": INSTRUCTIONS,
        }

    async def discover(self, params: Params, context: RequestContext) -> dict[str, Any]:
        """MCP 2026-07-28 ``server/discover``: the same for every caller, so any cache may keep it an hour."""
        return {
            "supportedVersions": list(SUPPORTED_VERSIONS),
            "capabilities": {"tools": {}},
            "instructions": INSTRUCTIONS,
            "ttlMs": 3_600_000,
            "cacheScope": "public",
        }

    async def ping(self, params: Params, context: RequestContext) -> dict[str, Any]:
        return {}

    async def list_tools(self, params: Params, context: RequestContext) -> dict[str, Any]:
        runtime = self._holder.current
        # "list": whether some call could be allowed, so a tool whose rules all carry conditions is listed.
        allowed = [
            tool.listing for tool in runtime.tools if runtime.policy.allows(context.principal, tool.name, "list")
        ]
        return {"tools": allowed}

    async def call_tool(self, params: Params, context: RequestContext) -> dict[str, Any]:
        # Malformed params still go through the pipeline, so that the refusal is audited like any other.
        name, arguments, problem = _call_parts(params)
        conversation_id, approval_id, meta_problem = _meta_parts(params)
        call = ToolCall(
            request_id=context.request_id,
            principal=context.principal,
            tool_name=name,
            arguments=arguments,
            transport=context.transport,
            params_error=problem or meta_problem,
            meta=CallMeta(
                session_id=context.session_id,
                source=context.source,
                protocol_version=context.protocol_version,
                conversation_id=conversation_id,
                approval_id=approval_id,
            ),
        )
        try:
            result = await self._holder.current.call_tool(call)
        except SchemaInvalid as exc:
            if context.transport != "mcp":
                raise
            # MCP reports input errors as a tool result, so the model can read and correct them.
            result = _schema_error_result(exc)
        return result.to_mcp()


def _call_parts(params: Params) -> tuple[str, dict[str, Any], str | None]:
    """Tool name, arguments, and what is wrong with the params (``None`` when nothing is)."""
    if not isinstance(params, dict):
        return "", {}, "tools/call params must be an object"
    name, arguments = params.get("name"), params.get("arguments")
    if not isinstance(name, str):
        return "", {}, "tools/call needs a tool name"
    if arguments is None:
        return name, {}, None
    if not isinstance(arguments, dict):
        return name, {}, "tools/call arguments must be an object"
    return name, arguments, None


def _meta_parts(params: Params) -> tuple[str | None, str | None, str | None]:
    """The conversation and approval ids of ``params["_meta"]``, and what is wrong with them, if anything."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    if meta is None:
        return None, None, None
    if not isinstance(meta, dict):
        return None, None, "tools/call _meta must be an object"
    found: list[str | None] = []
    for key in (CONVERSATION_META, APPROVAL_META):
        value = meta.get(key)
        if value is not None and not (isinstance(value, str) and _META_ID.fullmatch(value)):
            # The message names the key, never the value: it is the caller's text.
            return None, None, f"_meta {key} must be 1-128 characters of A-Z a-z 0-9 . _ : -"
        found.append(value)
    return found[0], found[1], None


def _schema_error_result(exc: SchemaInvalid) -> ToolResult:
    lines = [f"{error['path']}: {error['message']}" for error in exc.errors]
    text = "Invalid arguments:\n" + "\n".join(lines)
    return ToolResult(content=[{"type": "text", "text": text}], is_error=True)
