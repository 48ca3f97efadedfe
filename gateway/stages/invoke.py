"""The innermost handler: hand the call to the tool's backend adapter, and time it for the audit record.

``backend_us`` is the time spent inside the adapter (connecting, the request, reading and decoding the
answer), summed over every attempt when the retry stage calls again; the backoff between attempts is
not in it. ``attempts`` is 1 here; the retry stage sets it to the attempt it is about to make.
"""

from __future__ import annotations

import time

from gateway.pipeline import ToolCall, ToolResult


async def invoke(call: ToolCall) -> ToolResult:
    assert call.tool is not None, "resolve runs before invoke"
    notes = call.notes
    notes.setdefault("attempts", 1)
    started = time.perf_counter()
    try:
        return await call.tool.backend.invoke(call.arguments, notes)
    finally:  # a failed, timed-out or cancelled attempt spent backend time too
        notes["backend_us"] = notes.get("backend_us", 0) + round((time.perf_counter() - started) * 1_000_000)
