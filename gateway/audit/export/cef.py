"""ArcSight CEF: ``CEF:0|callgate|callgate|<version>|<event>|<name>|<severity>|<extension>``, one per line.

Escaping follows the CEF specification: in the header, ``\\`` and ``|`` are
escaped with a backslash; in extension values ``\\`` and ``=`` are, and line
breaks become ``\\n`` / ``\\r``. Header fields never hold line breaks (they are
replaced by spaces).

Field mapping (extension key: record field):

| CEF key | record field |
| --- | --- |
| ``rt`` | ``time`` (milliseconds since the epoch) |
| ``externalId`` | ``decision_id`` |
| ``outcome`` | ``decision`` |
| ``reason`` | ``reason`` |
| ``suser`` | ``subject`` |
| ``src`` | ``source`` (an IP address; absent when unknown) |
| ``app`` | ``transport`` |
| ``requestMethod`` | ``method`` |
| ``cs1`` tenant, ``cs2`` roles (``;``-joined) | ``tenant``, ``roles`` |
| ``cs3`` tool, ``cs4`` onBehalfOf | ``tool``, ``on_behalf_of`` |
| ``cs5`` ``argsDigest`` / ``cs6`` ``configVersion`` | ``args_digest``, ``config_version`` |
| ``cn1`` ``code`` / ``cn2`` ``latencyUs`` / ``cn3`` ``backendStatus`` | ``code``, ``latency_us``, ``backend_status`` |
| ``flexString1`` ``requestId`` / ``flexString2`` ``rule`` | ``request_id``, ``rule`` |
| ``flexNumber1`` ``backendUs`` / ``flexNumber2`` ``attempts`` | ``backend_us``, ``attempts`` |
| ``deviceExternalId`` / ``cnt`` | ``chain``, ``seq`` |
| ``callgateConversationId`` / ``callgateSessionId`` | ``conversation_id``, ``session_id`` |
| ``callgateApprovalId`` / ``callgateProtocolVersion`` | ``approval_id``, ``protocol_version`` |

The dictionary's six custom strings are taken, so the last four are vendor keys
(letters and digits only, as CEF allows; most SIEMs keep them as they are).
Structured fields (redacted ``arguments``, ``pii``, ``notes``, an export's
filters) are not in CEF: export JSON Lines or OCSF for them.

Severity: 1 allowed, 3 tool_error or cancelled, 5 refused, 7 failed, 0 otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from gateway import __version__

SEVERITY = {"allowed": 1, "tool_error": 3, "cancelled": 3, "refused": 5, "failed": 7}
_LABELLED = (
    ("cs1", "tenant", "tenant"),
    ("cs2", "roles", "roles"),
    ("cs3", "tool", "tool"),
    ("cs4", "onBehalfOf", "on_behalf_of"),
    ("cs5", "argsDigest", "args_digest"),
    ("cs6", "configVersion", "config_version"),
    ("cn1", "code", "code"),
    ("cn2", "latencyUs", "latency_us"),
    ("cn3", "backendStatus", "backend_status"),
    ("flexString1", "requestId", "request_id"),
    ("flexString2", "rule", "rule"),
    ("flexNumber1", "backendUs", "backend_us"),
    ("flexNumber2", "attempts", "attempts"),
)
_PLAIN = (
    ("externalId", "decision_id"),
    ("outcome", "decision"),
    ("reason", "reason"),
    ("suser", "subject"),
    ("src", "source"),
    ("app", "transport"),
    ("requestMethod", "method"),
    ("deviceExternalId", "chain"),
    ("cnt", "seq"),
    ("callgateConversationId", "conversation_id"),
    ("callgateSessionId", "session_id"),
    ("callgateApprovalId", "approval_id"),
    ("callgateProtocolVersion", "protocol_version"),
)


def header_escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r", " ").replace("\n", " ")


def value_escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return str(value)


def cef_line(record: dict[str, Any]) -> str:
    event = str(record.get("event", ""))
    decision = record.get("decision")
    name = " ".join(str(part) for part in (event, decision, record.get("reason")) if part)
    header = [
        "CEF:0",
        "callgate",
        "callgate",
        header_escape(__version__),
        header_escape(event),
        header_escape(name),
        str(SEVERITY.get(str(decision), 0)),
    ]
    extension: list[str] = []
    time = record.get("time")
    if isinstance(time, str):
        stamp = datetime.fromisoformat(time.replace("Z", "+00:00"))
        extension.append(f"rt={round(stamp.timestamp() * 1000)}")
    for key, field in _PLAIN:
        if record.get(field) is not None and not (key == "src" and record.get(field) == "-"):
            extension.append(f"{key}={value_escape(_text(record[field]))}")
    for key, label, field in _LABELLED:
        if record.get(field) is not None:
            extension.append(f"{key}Label={label} {key}={value_escape(_text(record[field]))}")
    return "|".join(header) + "|" + " ".join(extension)


def cef_lines(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for record in records:
        yield cef_line(record).encode("utf-8") + b"\n"
