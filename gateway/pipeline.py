"""What flows through the ``tools/call`` pipeline, and how the stages are composed.

A stage is any object with ``async def __call__(self, call, call_next)``. It
may refuse by raising a :class:`~gateway.errors.GatewayError`, change the call
it passes on, or change the result it hands back. The order of the stages is
declared once, in :mod:`gateway.runtime`; :func:`compose` folds it, once, into
a single handler. :class:`~gateway.results.ToolResult` is defined a floor lower, beside
the backends that make it, and re-exported here for the stages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from gateway.auth import Principal
from gateway.results import ToolResult

if TYPE_CHECKING:
    from gateway.tools import Tool


@dataclass(frozen=True, slots=True)
class CallMeta:
    """What a call carries besides its tool and arguments: where it came from and what it refers to.

    None of it ever reaches a backend; the audit record reads it, the approval stage reads ``approval_id``.
    """

    #: The MCP session the call came in on (``None`` on /rpc and on stateless MCP).
    session_id: str | None = None
    #: The peer address of the connection, as the server saw it.
    source: str | None = None
    #: The MCP protocol revision the call was made in (``None`` on /rpc).
    protocol_version: str | None = None
    #: ``_meta["callgate/conversation_id"]``: links one agent task's calls on the audit trail.
    conversation_id: str | None = None
    #: ``_meta["callgate/approval_id"]``: the approval a repeated call claims.
    approval_id: str | None = None


NO_META = CallMeta()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One ``tools/call`` request on its way to a backend."""

    request_id: str
    principal: Principal
    tool_name: str
    arguments: dict[str, Any]
    transport: str
    #: Why the request's params were malformed, if they were; resolve refuses such a call (inside audit).
    params_error: str | None = None
    #: Set by the resolve stage; every stage after it may rely on it.
    tool: Tool | None = None
    #: Facts stages note for the audit record (backend status, findings); never argument values.
    notes: dict[str, Any] = field(default_factory=dict, compare=False)
    meta: CallMeta = NO_META

    def with_tool(self, tool: Tool) -> ToolCall:
        """This call, resolved to ``tool``; built directly because dataclasses.replace is slow on a hot path."""
        return ToolCall(
            self.request_id,
            self.principal,
            self.tool_name,
            self.arguments,
            self.transport,
            self.params_error,
            tool,
            self.notes,
            self.meta,
        )

    def with_arguments(self, arguments: dict[str, Any]) -> ToolCall:
        """This call with ``arguments`` in place of its own; the notes are the same dict, which audit reads."""
        return ToolCall(
            self.request_id,
            self.principal,
            self.tool_name,
            arguments,
            self.transport,
            self.params_error,
            self.tool,
            self.notes,
            self.meta,
        )


Handler = Callable[[ToolCall], Awaitable[ToolResult]]


class Stage(Protocol):
    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult: ...


def compose(stages: Sequence[Stage], endpoint: Handler) -> Handler:
    """One handler that runs ``stages`` outermost first and ``endpoint`` innermost."""
    handler = endpoint
    for stage in reversed(stages):
        handler = partial(stage.__call__, call_next=handler)
    return handler


__all__ = ["NO_META", "CallMeta", "Handler", "Stage", "ToolCall", "ToolResult", "compose"]
