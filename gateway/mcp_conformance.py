"""The MCP conformance suite's fixture tools, as in-process tools (the ``python`` backend).

``make conformance`` serves them with the configuration in ``conformance/config``:
each is a tool spec like any other, so every call the suite makes passes the
whole pipeline (authentication, policy, schema, rate limits, scrubbing, audit).
The names and the answers are the ones the suite's scenarios expect; see
``@modelcontextprotocol/conformance``, ``src/scenarios/server/tools.ts``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.backends.python import ToolFailure
from gateway.mcp_progress import report_progress
from gateway.pipeline import ToolResult

#: A 1x1 red PNG.
_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
#: Eight samples of silence, 8 kHz mono, 8 bit.
_WAV = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA=="


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _image() -> dict[str, Any]:
    return {"type": "image", "data": _PNG, "mimeType": "image/png"}


def _resource(uri: str, mime_type: str, text: str) -> dict[str, Any]:
    return {"type": "resource", "resource": {"uri": uri, "mimeType": mime_type, "text": text}}


async def simple_text() -> ToolResult:
    return ToolResult(content=[_text("This is a simple text response for testing.")])


async def image_content() -> ToolResult:
    return ToolResult(content=[_image()])


async def audio_content() -> ToolResult:
    return ToolResult(content=[{"type": "audio", "data": _WAV, "mimeType": "audio/wav"}])


async def embedded_resource() -> ToolResult:
    resource = _resource("test://embedded-resource", "text/plain", "This is an embedded resource content.")
    return ToolResult(content=[resource])


async def multiple_content_types() -> ToolResult:
    resource = _resource("test://mixed-content-resource", "application/json", '{"test":"data","value":123}')
    return ToolResult(content=[_text("Multiple content types test:"), _image(), resource])


async def error_handling() -> ToolResult:
    # A business error: a tool result with isError, which the model can read (not a protocol error).
    raise ToolFailure("This tool intentionally returns an error for testing")


async def tool_with_progress() -> ToolResult:
    for done in (0, 50):
        report_progress(done, 100)
        await asyncio.sleep(0.05)
    report_progress(100, 100)
    return ToolResult(content=[_text("Progress tool completed")])


async def json_schema_2020_12(**arguments: Any) -> ToolResult:
    """The suite only lists this tool (its schema must come back unchanged); a call echoes the keys it got."""
    return ToolResult(content=[_text("Received: " + ", ".join(sorted(arguments)))])


async def custom_header(region: str) -> ToolResult:
    return ToolResult(content=[_text(f"Region: {region}")])
