"""Ask the policy whether this principal may call this tool with these arguments. Deny by default.

It runs before validation, so a caller who may not use a tool learns nothing
about its schema from the error it gets. The rule that decided (``file:line``)
goes on the audit record, for allowed and denied calls alike: the engine caches
it with the decision, so naming it costs no evaluation.
"""

from __future__ import annotations

from gateway.errors import PolicyDenied
from gateway.pipeline import Handler, ToolCall, ToolResult
from gateway.policy import PolicyEngine


class Authorize:
    def __init__(self, policy: PolicyEngine) -> None:
        self._policy = policy

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        ruling = self._policy.ruling(call.principal, call.tool_name, "call", call.arguments)
        if ruling.rule is not None:
            call.notes["rule"] = ruling.rule
        if not ruling.allowed:
            raise PolicyDenied()
        return await call_next(call)
