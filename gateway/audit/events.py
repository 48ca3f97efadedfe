"""The events the audit trail holds, and the fields each always carries.

Adding an event is adding its name to :data:`EventName` (the one list), its
entry to :data:`ALWAYS`, a builder on gateway.audit.record.AuditRecord, and the
same to the published schema (``schema/audit-record.schema.json``; the test
tests/audit/test_schema.py fails until schema and this module agree).
"""

from __future__ import annotations

from typing import Literal, get_args

EventName = Literal[
    "tools/call",
    "tools/list",
    "request/refused",
    "config/reload",
    "approval/requested",
    "approval/decided",
    "approval/executed",
    "audit/export",
    "audit/checkpoint",
]
EVENTS: tuple[EventName, ...] = get_args(EventName)

_CALLER = ("request_id", "transport", "subject", "tenant", "roles", "on_behalf_of")
_DECIDED = ("decision", "reason", "code", "config_version", "latency_us")
_APPROVAL = frozenset((*_CALLER, "approval_id", "tool", "args_digest", "decision", "reason", "config_version"))
#: Fields each event always carries, null when they do not apply to one record (so readers can index them).
#: The published schema requires exactly these (tests/audit/test_schema.py keeps the two in step).
ALWAYS: dict[EventName, frozenset[str]] = {
    "tools/call": frozenset(
        (
            *_CALLER,
            *_DECIDED,
            "source",
            "session_id",
            "conversation_id",
            "method",
            "tool",
            "arg_keys",
            "args_digest",
        )
    ),
    "tools/list": frozenset((*_CALLER, *_DECIDED, "source", "session_id", "method", "tool", "tools_listed")),
    "request/refused": frozenset(
        ("request_id", "source", "transport", "decision", "reason", "code", "http_status", "config_version")
    ),
    "config/reload": frozenset(
        (
            "request_id",
            "trigger",
            "subject",
            "tenant",
            "roles",
            "outcome",
            "reason",
            "config_version",
            "previous_version",
            "error",
            "restart_required",
        )
    ),
    "approval/requested": _APPROVAL,
    "approval/decided": _APPROVAL,
    "approval/executed": _APPROVAL,
    "audit/export": frozenset((*_CALLER, "source", "method", "decision", "reason", "config_version", "export")),
    "audit/checkpoint": frozenset(("checkpoint",)),
}
