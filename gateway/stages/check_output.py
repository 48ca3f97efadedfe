"""Check a successful result's structured content against the tool's output schema, when it has one.

A backend that breaks its contract is reported as a bad response rather than
handing the model data of a shape nobody declared.
"""

from __future__ import annotations

from gateway.errors import BackendBadResponse
from gateway.pipeline import Handler, ToolCall, ToolResult


class CheckOutput:
    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        result = await call_next(call)
        validator = call.tool.output_validator if call.tool is not None else None
        if validator is None or result.is_error:
            return result
        if result.structured is None or validator.errors(result.structured):
            raise BackendBadResponse("Backend result does not match the tool's output schema")
        return result
