"""In-process tools for the ``python`` backend: plain async callables that take keyword arguments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.backends.python import ToolFailure


async def current_time(timezone: str = "UTC") -> dict[str, Any]:
    """The current time in ``timezone`` (an IANA name)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolFailure(f"unknown time zone {timezone!r}") from None
    now = datetime.now(UTC).astimezone(zone)
    return {"timezone": timezone, "iso": now.isoformat(timespec="seconds")}
