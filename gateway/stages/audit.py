"""Outermost stage: exactly one audit record for every call, whatever its outcome; and one for every listing.

The record (gateway.audit.record) holds who, what, when, the decision and its
reason, the config version and the latencies; arguments only as a keyed
digest (gateway.audit.digest) and their top-level keys, never their values;
and what the inner stages noted in ``call.notes`` (backend status, attempts,
PII findings by type). The caller's answer waits until the record is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from gateway.audit import AuditRecord, AuditWriter
from gateway.auth import Principal
from gateway.errors import GatewayError, as_gateway_error
from gateway.metrics import CallMetrics
from gateway.pipeline import Handler, ToolCall, ToolResult


class Audit:
    def __init__(
        self,
        writer: AuditWriter,
        config_version: str,
        metrics: CallMetrics | None = None,
        declared: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._writer = writer
        self._config_version = config_version
        self._metrics = metrics
        #: Per tool, the argument names its input schema declares: the only keys a record names.
        self._declared = declared or {}

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        started = time.perf_counter()
        try:
            result = await call_next(call)
        except asyncio.CancelledError:
            # The client went away mid-call; the record still tells what was attempted.
            await self._record(call, started, "cancelled", "cancelled", None)
            raise
        except Exception as exc:
            refusal = as_gateway_error(exc)
            await self._record(call, started, refusal.outcome, refusal.reason, refusal.code)
            if refusal is exc:
                raise
            raise refusal from exc
        outcome, reason = ("tool_error", "backend.tool_error") if result.is_error else ("allowed", "ok")
        await self._record(call, started, outcome, reason, None)
        return result

    async def _record(self, call: ToolCall, started: float, decision: str, reason: str, code: int | None) -> None:
        elapsed = time.perf_counter() - started
        if self._metrics is not None:  # counted here, so metrics and audit agree on every outcome
            self._metrics.observe(call.tool_name, decision, reason, elapsed)
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
            reason=refusal.reason if refusal else "ok",
            code=refusal.code if refusal else None,
            config_version=self._config_version(),
            latency_us=round((time.perf_counter() - started) * 1_000_000),
            tools_listed=listed,
        )
        await self._writer.write(record)


__all__ = ["Audit", "AuditListing"]
