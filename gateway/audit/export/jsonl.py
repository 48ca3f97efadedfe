"""JSON Lines: each record as stored, chain fields included, one per line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.jsoncodec import dumps


def jsonl_lines(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for record in records:
        yield dumps(record) + b"\n"
