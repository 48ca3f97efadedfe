"""Find the tool a call names; malformed params or an unknown tool are refused as invalid params."""

from __future__ import annotations

from gateway.errors import InvalidParams
from gateway.pipeline import Handler, ToolCall, ToolResult
from gateway.tools import ToolRegistry


class Resolve:
    def __init__(self, registry: ToolRegistry) -> None:
        self._registry = registry

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        if call.params_error is not None:
            raise InvalidParams(call.params_error)
        tool = self._registry.get(call.tool_name)
        if tool is None:
            raise InvalidParams("Unknown tool", data={"tool": call.tool_name[:128]})
        return await call_next(call.with_tool(tool))
