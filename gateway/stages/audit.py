"""Outermost stage: exactly one audit record for every call, whatever its outcome; and one for every listing.

The record (gateway.audit.record) holds who, what, when, the decision and its
reason, the config version and the latencies; where the call came from (its
``CallMeta``: source address, session, protocol revision, conversation and
approval ids); arguments only as a keyed digest (gateway.audit.digest) and
their top-level keys, and redacted only for tools whose spec opts in
(gateway.audit.redaction); and what the inner stages noted in ``call.notes``
(the deciding rule, backend status, attempts and time, PII findings by type).
The caller's answer waits until the record is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from gateway.audit import AuditRecord, AuditWriter
from gateway.audit.redaction import ArgumentRedactor
from gateway.auth import Principal
from gateway.errors import CANCELLED, OK, TOOL_ERROR, GatewayError, as_gateway_error
from gateway.logs import current_decision_id
from gateway.metrics import CallMetrics
from gateway.pipeline import Handler, ToolCall, ToolResult


class Audit:
    def __init__(
        self,
        writer: AuditWriter,
        config_version: str,
        metrics: CallMetrics | None = None,
        declared: Mapping[str, frozenset[str]] | None = None,
        redactor: ArgumentRedactor | None = None,
    ) -> None:
        self._writer = writer
        self._config_version = config_version
        self._metrics = metrics
        #: Per tool, the argument names its input schema declares: the only keys a record names.
        self._declared = declared or {}
        self._redactor = redactor

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        started = time.perf_counter()
        try:
            result = await call_next(call)
        except asyncio.CancelledError:
            # The client went away mid-call; the record still tells what was attempted.
            await self._record(call, started, "cancelled", CANCELLED, None)
            raise
        except Exception as exc:
            refusal = as_gateway_error(exc)
            await self._record(call, started, refusal.outcome, refusal.reason, refusal.code)
            if refusal is exc:
                raise
            raise refusal from exc
        outcome, reason = ("tool_error", TOOL_ERROR) if result.is_error else ("allowed", OK)
        await self._record(call, started, outcome, reason, None)
        return result

    async def _record(self, call: ToolCall, started: float, decision: str, reason: str, code: int | None) -> None:
        elapsed = time.perf_counter() - started
        if self._metrics is not None:  # counted here, so metrics and audit agree on every outcome
            self._metrics.observe(call.tool_name, decision, reason, elapsed)
        redacted = None
        if self._redactor is not None and self._redactor.wants(call.tool_name):
            principal = call.principal
            redacted, withheld = await self._redactor.redact(
                call.tool_name, call.arguments, principal.roles, principal.tenant
            )
            if withheld is not None:
                call.notes["arguments_withheld"] = withheld
        meta = call.meta
        record = AuditRecord.tool_call(
            request_id=call.request_id,
            transport=call.transport,
            principal=call.principal,
            tool=call.tool_name,
            arguments=call.arguments,
            declared=self._declared.get(call.tool_name, frozenset()),
            args_digest=self._writer.digest(call.arguments),
            decision=decision,
            reason=reason,
            code=code,
            config_version=self._config_version,
            latency_us=round(elapsed * 1_000_000),
            notes=call.notes,
            redacted=redacted,
            source=meta.source,
            session_id=meta.session_id,
            protocol_version=meta.protocol_version,
            conversation_id=meta.conversation_id,
            # The id the call claimed, or the one the approval stage just parked it under.
            approval_id=meta.approval_id or call.notes.pop("approval_id", None),
            decision_id=current_decision_id(),
        )
        await self._writer.write(record)


class ListingContext(Protocol):
    """What a listing's record needs to know of its request (the dispatcher's RequestContext)."""

    @property
    def principal(self) -> Principal: ...
    @property
    def request_id(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def protocol_version(self) -> str | None: ...


Listing = Callable[[Any, Any], Awaitable[Any]]


class AuditListing:
    """Wraps the ``tools/list`` method: one ``tools/list`` record per listing, allowed or refused."""

    def __init__(self, listing: Listing, writer: AuditWriter, config_version: Callable[[], str]) -> None:
        self._listing = listing
        self._writer = writer
        self._config_version = config_version

    async def __call__(self, params: Any, context: ListingContext) -> Any:
        started = time.perf_counter()
        try:
            result = await self._listing(params, context)
        except Exception as exc:
            refusal = as_gateway_error(exc)
            await self._record(context, started, refusal, None)
            if refusal is exc:
                raise
            raise refusal from exc
        tools = result.get("tools") if isinstance(result, dict) else None
        await self._record(context, started, None, len(tools) if isinstance(tools, list) else None)
        return result

    async def _record(
        self, context: ListingContext, started: float, refusal: GatewayError | None, listed: int | None
    ) -> None:
        record = AuditRecord.tool_list(
            request_id=context.request_id,
            transport=context.transport,
            principal=context.principal,
            decision=refusal.outcome if refusal else "allowed",
            reason=refusal.reason if refusal else OK,
            code=refusal.code if refusal else None,
            config_version=self._config_version(),
            latency_us=round((time.perf_counter() - started) * 1_000_000),
            tools_listed=listed,
            source=context.source,
            session_id=context.session_id,
            protocol_version=context.protocol_version,
        )
        await self._writer.write(record)


__all__ = ["Audit", "AuditListing"]
