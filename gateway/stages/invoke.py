"""The innermost handler: hand the call to the tool's backend adapter."""

from __future__ import annotations

from gateway.pipeline import ToolCall, ToolResult


async def invoke(call: ToolCall) -> ToolResult:
    assert call.tool is not None, "resolve runs before invoke"
    return await call.tool.backend.invoke(call.arguments, call.notes)
