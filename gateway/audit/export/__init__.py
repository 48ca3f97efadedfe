"""``export``: the trail's records, filtered, in JSON Lines, CSV, OCSF or CEF, streamed in constant memory.

Records come in time order across chains (a k-way merge that holds one record
per chain), checkpoints left out: they belong to ``verify``. Lines that are not
records (a torn tail) are skipped; ``verify`` is the place to ask about them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gateway.audit.export.cef import cef_lines
from gateway.audit.export.csv import csv_lines
from gateway.audit.export.jsonl import jsonl_lines
from gateway.audit.export.ocsf import ocsf_lines
from gateway.audit.segments import Segment, chains
from gateway.jsoncodec import DecodeError, loads

Format = Literal["jsonl", "csv", "ocsf", "cef"]
FORMATS: dict[str, Callable[[Iterator[dict[str, Any]]], Iterator[bytes]]] = {
    "jsonl": jsonl_lines,
    "csv": csv_lines,
    "ocsf": ocsf_lines,
    "cef": cef_lines,
}
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "ocsf": "application/x-ndjson", "cef": "text/plain"}


@dataclass(frozen=True, slots=True)
class Filters:
    """Which records to export; None matches everything. ``since`` is inclusive, ``until`` exclusive."""

    since: str | None = None
    until: str | None = None
    subject: str | None = None
    tenant: str | None = None
    tool: str | None = None
    decision: str | None = None
    #: One agent task's records: those whose ``conversation_id`` is this.
    conversation: str | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        time = record.get("time")
        if not isinstance(time, str) or record.get("event") == "audit/checkpoint":
            return False
        return (
            (self.since is None or time >= self.since)
            and (self.until is None or time < self.until)
            and (self.subject is None or record.get("subject") == self.subject)
            and (self.tenant is None or record.get("tenant") == self.tenant)
            and (self.tool is None or record.get("tool") == self.tool)
            and (self.decision is None or record.get("decision") == self.decision)
            and (self.conversation is None or record.get("conversation_id") == self.conversation)
        )


def instant(text: str) -> str:
    """A time the user typed (ISO 8601; a date alone is its midnight UTC) in the records' own format."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def records(directory: Path, filters: Filters = Filters()) -> Iterator[dict[str, Any]]:
    """Every record in ``directory`` that ``filters`` matches, oldest first."""
    streams = [_chain_records(segments, filters) for segments in chains(directory).values()]
    return heapq.merge(*streams, key=lambda record: str(record["time"]))


def export(directory: Path, format: Format, filters: Filters = Filters()) -> Iterator[bytes]:
    """The matching records as ``format``, a line (or CSV row) at a time."""
    return FORMATS[format](records(directory, filters))


def _chain_records(segments: list[Segment], filters: Filters) -> Iterator[dict[str, Any]]:
    for segment in segments:
        try:
            file = open(segment.path, "rb")  # noqa: SIM115 -- closed below; a generator holds it across yields
        except OSError:
            continue
        with file:
            for raw in file:
                if not raw.endswith(b"\n"):
                    break  # a torn tail: never acknowledged
                try:
                    record = loads(raw)
                except DecodeError:
                    continue
                if isinstance(record, dict) and filters.matches(record):
                    yield record
