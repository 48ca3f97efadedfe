"""What a tool gives back: the record a backend adapter makes and every stage above it passes on.

It sits below both the backends that build it and the pipeline that carries it
(gateway.pipeline), so that every import arrow points down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.jsoncodec import dumps


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool gave back: MCP content blocks, optional structured content, and whether it failed."""

    content: list[dict[str, Any]]
    structured: dict[str, Any] | None = None
    is_error: bool = False

    @classmethod
    def from_value(cls, value: Any, *, is_error: bool = False) -> ToolResult:
        """A result for a JSON value: text for the model, structured content when it is an object."""
        text = value if isinstance(value, str) else dumps(value).decode()
        structured = value if isinstance(value, dict) else None
        return cls(content=[{"type": "text", "text": text}], structured=structured, is_error=is_error)

    def to_mcp(self) -> dict[str, Any]:
        result: dict[str, Any] = {"content": self.content, "isError": self.is_error}
        if self.structured is not None:
            result["structuredContent"] = self.structured
        return result
