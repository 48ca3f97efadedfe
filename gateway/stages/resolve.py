"""Find the tool a call names; an unknown tool is refused as invalid params."""

from __future__ import annotations

from dataclasses import replace

from gateway.errors import InvalidParams
from gateway.pipeline import Handler, ToolCall, ToolResult
from gateway.tools import ToolRegistry


class Resolve:
    def __init__(self, registry: ToolRegistry) -> None:
        self._registry = registry

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        tool = self._registry.get(call.tool_name)
        if tool is None:
            raise InvalidParams("Unknown tool", data={"tool": call.tool_name[:128]})
        return await call_next(replace(call, tool=tool))
