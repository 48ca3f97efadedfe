"""CSV (RFC 4180): a header row, then one row per record; quoted where a value needs it, CRLF line ends.

One column per record field but the checkpoint's (``COLUMNS``, in this order).
Lists (roles, argument keys) are joined with ``;``; objects (redacted
arguments, PII findings, notes, an export's filters, a reload's error
location) are JSON. Values are written as they are: a
spreadsheet that evaluates cells starting with ``=`` should import the file as
text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from gateway.jsoncodec import dumps

COLUMNS = (
    "time",
    "event",
    "decision_id",
    "decision",
    "reason",
    "code",
    "http_status",
    "subject",
    "tenant",
    "roles",
    "on_behalf_of",
    "source",
    "transport",
    "method",
    "tool",
    "request_id",
    "session_id",
    "protocol_version",
    "conversation_id",
    "approval_id",
    "rule",
    "config_version",
    "arg_keys",
    "args_digest",
    "arguments",
    "backend_status",
    "attempts",
    "latency_us",
    "backend_us",
    "breaker",
    "concurrency",
    "tools_listed",
    "pii",
    "detail",
    "dropped",
    "trigger",
    "outcome",
    "previous_version",
    "error",
    "restart_required",
    "notes",
    "export",
    "chain",
    "seq",
)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ";".join(value)
    if isinstance(value, dict | list):
        return dumps(value).decode()
    return str(value)


def csv_lines(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def take() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode("utf-8")

    writer.writerow(COLUMNS)
    yield take()
    for record in records:
        writer.writerow([cell(record.get(column)) for column in COLUMNS])
        yield take()
