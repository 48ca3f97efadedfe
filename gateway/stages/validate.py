"""Check the arguments against the tool's input schema (Draft 2020-12, compiled at load)."""

from __future__ import annotations

from gateway.errors import SchemaInvalid
from gateway.pipeline import Handler, ToolCall, ToolResult


class Validate:
    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        assert call.tool is not None, "resolve runs before validate"
        errors = call.tool.validator.errors(call.arguments)
        if errors:
            raise SchemaInvalid(errors)
        return await call_next(call)
