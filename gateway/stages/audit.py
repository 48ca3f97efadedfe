"""Outermost stage: exactly one audit record for every call, whatever its outcome.

The record holds who, what, when, the decision and its reason, the config
version and the latency; arguments only as a digest and their top-level keys,
never their values. The caller's answer waits until the record is durable.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from gateway.audit import AuditWriter
from gateway.errors import as_gateway_error
from gateway.jsoncodec import dumps_canonical
from gateway.metrics import CallMetrics
from gateway.pipeline import Handler, ToolCall, ToolResult


class Audit:
    def __init__(self, writer: AuditWriter, config_version: str, metrics: CallMetrics | None = None) -> None:
        self._writer = writer
        self._config_version = config_version
        self._metrics = metrics

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
        principal = call.principal
        record: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
            "event": "tools/call",
            "request_id": call.request_id,
            "transport": call.transport,
            "subject": principal.subject,
            "tenant": principal.tenant,
            "roles": list(principal.roles),
            "on_behalf_of": principal.on_behalf_of,
            "tool": call.tool_name[:128],
            "arg_keys": sorted(str(key)[:64] for key in call.arguments)[:50],
            "args_digest": _digest(call.arguments),
            "decision": decision,
            "reason": reason,
            "code": code,
            "config_version": self._config_version,
            "latency_ms": round(elapsed * 1000, 3),
            **call.notes,
        }
        await self._writer.write(record)


def _digest(arguments: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(dumps_canonical(arguments)).hexdigest()


__all__ = ["Audit"]
