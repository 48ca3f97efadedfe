"""The one audit record type, for every event the trail holds, and the one place each kind is built.

Events:

- ``tools/call``: one per tool call, whatever its outcome (the audit stage).
- ``tools/list``: one per listing (what the caller may see is a decision too).
- ``request/refused``: a request refused before any tool call: bad credential,
  body that is not JSON, an edge limit, an authenticated caller without the
  admin role (gateway.audit.refusals; rate-limited per source address).
- ``config/reload``: a configuration reload, applied or not (gateway.reload).
- ``approval/requested``, ``approval/decided``, ``approval/executed``: human
  approvals (:meth:`AuditRecord.approval`).
- ``audit/export``: an admin exported records (gateway.admin); who, and with which filters.
- ``audit/checkpoint``: written by the trail itself (gateway.audit.chain).

A record holds who, what, when and why, never what was said: arguments only as
their top-level keys and a keyed digest (gateway.audit.digest), redacted
arguments only when the tool spec opts in (gateway.audit.redaction: declared
keys only, personal data replaced), personal data findings only by type, count
and direction. ``chain``, ``seq`` and ``prev`` are added by
the writer, which alone knows the order. The JSON Schema of the result is
``gateway/audit/schema/audit-record.schema.json``.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.audit.events import ALWAYS, EVENTS, EventName
from gateway.auth import Principal
from gateway.errors import OK

#: ``call.notes`` keys that become fields of their own; any other note goes under ``notes``.
_NOTE_FIELDS = ("backend_status", "attempts", "backend_us", "breaker", "concurrency", "rule", "pii")
#: Notes never written: argument values reach a record only through ``arguments`` (redacted), never a note.
_NEVER_NOTED = frozenset(("arguments",))
#: Bounds on what a caller controls, so one record stays small whatever it sends.
_MAX_TOOL, _MAX_KEY, _MAX_KEYS, _MAX_NOTE = 128, 64, 50, 200
#: What an argument key the tool's input schema does not declare is recorded as.
UNDECLARED_KEY = "<undeclared>"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event of the trail; :meth:`to_json` is what is written (before the chain fields)."""

    event: EventName
    decision_id: str = field(default_factory=_new_id)
    time: str = field(default_factory=_now)
    request_id: str | None = None
    session_id: str | None = None
    source: str | None = None
    transport: str | None = None
    #: The MCP protocol revision of the session (absent on /rpc).
    protocol_version: str | None = None
    #: ``_meta["callgate/conversation_id"]``: one agent task's calls share it.
    conversation_id: str | None = None
    #: The human approval a call claims (``_meta["callgate/approval_id"]``), or an approval event's own id.
    approval_id: str | None = None
    subject: str | None = None
    tenant: str | None = None
    roles: tuple[str, ...] | None = None
    on_behalf_of: str | None = None
    method: str | None = None
    tool: str | None = None
    decision: str | None = None
    reason: str | None = None
    code: int | None = None
    http_status: int | None = None
    #: Which check refused, in stable words: a credential's (``jwt.role_not_allowed``), an edge limit's
    #: (``host.not_allowed``, ``head.too_large``; gateway.audit.refusals lists them). Never the credential.
    detail: str | None = None
    #: ``request/refused`` records of this source left out since its previous one (the flood limit).
    dropped: int | None = None
    #: The policy rule that decided, as ``file:line``.
    rule: str | None = None
    config_version: str | None = None
    previous_version: str | None = None
    trigger: str | None = None
    outcome: str | None = None
    #: Where a broken configuration file is wrong (file, line, JSON path), never what it says.
    error: dict[str, Any] | None = None
    restart_required: tuple[str, ...] | None = None
    arg_keys: tuple[str, ...] | None = None
    args_digest: str | None = None
    #: The arguments after redaction, only when the tool spec opts in (gateway.audit.redaction).
    arguments: dict[str, Any] | None = None
    backend_status: int | None = None
    attempts: int | None = None
    latency_us: int | None = None
    backend_us: int | None = None
    #: The backend's circuit when it refused or let a trial through (``open``, ``half-open``).
    breaker: str | None = None
    #: ``queue_full`` when the backend's concurrency limit refused the call.
    concurrency: str | None = None
    tools_listed: int | None = None
    #: Personal data found: ``[{"entity", "count", "direction", "action"?}]``, never the values.
    pii: tuple[dict[str, Any], ...] | None = None
    #: Other facts stages noted (breaker state, a full queue); bounded scalars only.
    notes: dict[str, Any] | None = None
    #: An ``audit/export``: its format and the filters it was given.
    export: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON: the fields its event always carries (null when empty), and the others it has."""
        always = ALWAYS[self.event]
        out: dict[str, Any] = {}
        for name, value in zip(_FIELD_NAMES, _ALL_FIELDS(self), strict=True):
            if value is None:
                if name in always:
                    out[name] = None
                continue
            out[name] = list(value) if type(value) is tuple else value
        return out

    @classmethod
    def tool_call(
        cls,
        *,
        request_id: str,
        transport: str,
        principal: Principal,
        tool: str,
        arguments: Mapping[str, Any],
        args_digest: str,
        decision: str,
        reason: str,
        code: int | None,
        config_version: str,
        latency_us: int,
        notes: Mapping[str, Any],
        declared: Collection[str] = (),
        redacted: dict[str, Any] | None = None,
        source: str | None = None,
        session_id: str | None = None,
        protocol_version: str | None = None,
        conversation_id: str | None = None,
        approval_id: str | None = None,
        decision_id: str | None = None,
    ) -> AuditRecord:
        """A ``tools/call`` record: the principal, the tool, the argument keys and digest, the decision.

        Only keys the tool's input schema ``declared`` are named: any other key is the caller's text (it
        could be an email address), so it stands as ``UNDECLARED_KEY``, which keeps the count.
        ``redacted``: the arguments as gateway.audit.redaction made them, when the tool spec opts in.
        The rest says where the call came from (gateway.pipeline.CallMeta).
        """
        known = {name: notes[name] for name in _NOTE_FIELDS if name in notes}
        others = {
            str(name)[:_MAX_KEY]: _scalar(value)
            for name, value in notes.items()
            if name not in known and name not in _NEVER_NOTED
        }
        pii = known.get("pii")
        return cls(
            event="tools/call",
            # The id the call's log lines carry (gateway.logs), when the pipeline's entry gave it one.
            decision_id=decision_id or _new_id(),
            request_id=request_id,
            session_id=session_id,
            source=source,
            transport=transport,
            protocol_version=protocol_version,
            conversation_id=conversation_id,
            approval_id=approval_id,
            method="tools/call",
            **_who(principal),
            tool=tool[:_MAX_TOOL],
            arg_keys=tuple(
                sorted(str(key)[:_MAX_KEY] if key in declared else UNDECLARED_KEY for key in arguments)[:_MAX_KEYS]
            ),
            args_digest=args_digest,
            decision=decision,
            reason=reason,
            code=code,
            config_version=config_version,
            latency_us=latency_us,
            backend_status=known.get("backend_status"),
            attempts=known.get("attempts"),
            backend_us=known.get("backend_us"),
            breaker=known.get("breaker"),
            concurrency=known.get("concurrency"),
            rule=known.get("rule"),
            pii=tuple(pii) if pii else None,
            arguments=redacted,
            notes=others or None,
        )

    @classmethod
    def tool_list(
        cls,
        *,
        request_id: str,
        transport: str,
        principal: Principal,
        decision: str,
        reason: str,
        code: int | None,
        config_version: str,
        latency_us: int,
        tools_listed: int | None,
        source: str | None = None,
        session_id: str | None = None,
        protocol_version: str | None = None,
    ) -> AuditRecord:
        """A ``tools/list`` record: who asked, and how many tools they were shown."""
        return cls(
            event="tools/list",
            request_id=request_id,
            session_id=session_id,
            source=source,
            transport=transport,
            protocol_version=protocol_version,
            method="tools/list",
            **_who(principal),
            decision=decision,
            reason=reason,
            code=code,
            config_version=config_version,
            latency_us=latency_us,
            tools_listed=tools_listed,
        )

    @classmethod
    def refused(
        cls,
        *,
        request_id: str,
        source: str | None,
        transport: str,
        reason: str,
        code: int,
        http_status: int,
        config_version: str,
        principal: Principal | None = None,
        method: str | None = None,
        detail: str | None = None,
        dropped: int | None = None,
    ) -> AuditRecord:
        """A ``request/refused`` record: a request that never became a tool call."""
        who = _who(principal) if principal is not None else {}
        return cls(
            event="request/refused",
            request_id=request_id,
            source=source,
            transport=transport,
            method=method,
            **who,
            decision="refused",
            reason=reason,
            code=code,
            http_status=http_status,
            detail=detail,
            dropped=dropped or None,
            config_version=config_version,
        )

    @classmethod
    def reload(
        cls,
        *,
        request_id: str | None,
        trigger: str,
        principal: Principal | None,
        outcome: str,
        reason: str,
        config_version: str,
        previous_version: str,
        error: dict[str, Any] | None,
        restart_required: tuple[str, ...],
    ) -> AuditRecord:
        """A ``config/reload`` record: what triggered it, whether it applied, and which version is in force."""
        return cls(
            event="config/reload",
            request_id=request_id,
            trigger=trigger,
            subject=principal.subject if principal else None,
            tenant=principal.tenant if principal else None,
            roles=principal.roles if principal else (),
            outcome=outcome,
            decision="allowed" if outcome == "success" else "refused",
            reason=reason,
            config_version=config_version,
            previous_version=previous_version,
            error=error,
            restart_required=restart_required,
        )

    @classmethod
    def approval(
        cls,
        event: Literal["approval/requested", "approval/decided", "approval/executed"],
        *,
        approval_id: str,
        request_id: str | None,
        transport: str | None,
        principal: Principal | None,
        tool: str,
        args_digest: str | None,
        decision: str,
        reason: str,
        config_version: str,
        conversation_id: str | None = None,
        source: str | None = None,
    ) -> AuditRecord:
        """An ``approval/*`` record: ``principal`` is who acted (the agent asking, the human deciding).

        ``args_digest`` binds the record to the exact call the approval is for; ``decision`` and
        ``reason`` are the call's (``refused``/``approval.pending`` when requested) or the human's.
        """
        who = _who(principal) if principal is not None else {}
        return cls(
            event=event,
            approval_id=approval_id,
            request_id=request_id,
            source=source,
            transport=transport,
            conversation_id=conversation_id,
            **who,
            tool=tool[:_MAX_TOOL],
            args_digest=args_digest,
            decision=decision,
            reason=reason,
            config_version=config_version,
        )

    @classmethod
    def audit_export(
        cls,
        *,
        request_id: str,
        source: str | None,
        principal: Principal,
        format: str,
        filters: Mapping[str, str],
        config_version: str,
    ) -> AuditRecord:
        """An ``audit/export`` record: an admin read the trail; which format and filters (values bounded)."""
        return cls(
            event="audit/export",
            request_id=request_id,
            source=source,
            transport="admin",
            method="audit.export",
            **_who(principal),
            decision="allowed",
            reason=OK,
            config_version=config_version,
            export={"format": format, "filters": {name: value[:_MAX_NOTE] for name, value in filters.items()}},
        )

    @classmethod
    def audit_checkpoint(cls, checkpoint: dict[str, Any]) -> AuditRecord:
        """An ``audit/checkpoint`` record (gateway.audit.chain fills it in and signs it)."""
        return cls(event="audit/checkpoint", checkpoint=checkpoint)


def _scalar(value: Any) -> str | int | bool | None:
    """A note as the trail may hold it: a bounded scalar (integers RFC 8785 can write exactly)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and -(2**53) < value < 2**53:
        return value
    return str(value)[:_MAX_NOTE]


def _who(principal: Principal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "tenant": principal.tenant,
        "roles": principal.roles,
        "on_behalf_of": principal.on_behalf_of,
    }


_FIELD_NAMES = tuple(f.name for f in fields(AuditRecord))
#: Every field's value at once: one C call instead of a getattr per field on the hot path.
_ALL_FIELDS = operator.attrgetter(*_FIELD_NAMES)

__all__ = ["EVENTS", "UNDECLARED_KEY", "AuditRecord", "EventName"]
