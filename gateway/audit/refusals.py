"""Audit records for requests refused before any tool call: bad credentials, bodies that are not JSON, edge limits.

Such a request has no principal and never reaches the pipeline, yet a security
team wants to see credential stuffing, forged tokens, DNS-rebinding pages and
slowloris clients in the trail. Each refusal is one ``request/refused`` record
naming the source address, the endpoint, the reason and a stable non-secret
``detail`` — never the credential, the header or the body:

- a refused credential: the check that refused it (``api_key.unknown``,
  ``jwt.role_not_allowed``; gateway/auth/jwt.py lists them);
- the edge (gateway.edge): ``host.not_allowed`` and ``origin.not_allowed`` (403),
  ``body.too_large`` (413, by Content-Length; a streamed body passing the limit is
  refused by the endpoint reading it, as ``protocol.invalid_request`` with 413);
- the request head (gateway.http_protocol, before any ASGI app runs):
  ``head.too_large`` and ``head.too_many_fields`` (431), ``head.timeout`` (408).

An unauthenticated client must not be able to fill the disk, so records are
rate-limited per source address (and overall, against many sources): past the
limit they are counted, not written, and the next record written for that
source carries ``dropped``, how many were left out since its previous one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.audit.record import AuditRecord
from gateway.audit.writer import AuditWriter
from gateway.auth import Principal
from gateway.errors import AuditUnavailable, GatewayError, http_status

log = logging.getLogger("callgate.audit")

#: Records per second each source may cause, sustained, and at once after a quiet spell.
PER_SOURCE_RATE, PER_SOURCE_BURST = 5.0, 50
#: The same across all sources together: a flood from many addresses is bounded too.
TOTAL_RATE, TOTAL_BURST = 200.0, 1000
#: Sources remembered at once; past it the table is cleared (its allowances then start full).
MAX_SOURCES = 50_000


#: The endpoints a record names; any other path is recorded as ``other`` (a path is the caller's text).
ENDPOINTS = frozenset(("rpc", "mcp", "admin", "healthz", "readyz", "metrics", ".well-known"))


def endpoint_of(path: str) -> str:
    """The endpoint a request ``path`` is for, as a record names it: its first segment, if callgate serves it."""
    first = path.strip("/").split("/", 1)[0]
    return first if first in ENDPOINTS else "other" if first else "-"


class _Allowance:
    """A token bucket: ``rate`` tokens a second up to ``burst``; one token per record written."""

    __slots__ = ("burst", "dropped", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), now
        self.dropped = 0

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class RefusalLog:
    """Writes ``request/refused`` records, at most so many per source address."""

    def __init__(
        self,
        writer: AuditWriter,
        config_version: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer = writer
        self._config_version = config_version
        self._clock = clock
        self._sources: dict[str, _Allowance] = {}
        self._total = _Allowance(TOTAL_RATE, TOTAL_BURST, clock())

    async def record(
        self, error: GatewayError, *, source: str, endpoint: str, request_id: str, detail: str | None = None
    ) -> None:
        """Audit one refusal, unless its source (or everyone) is over the allowance; never raises."""
        now = self._clock()
        allowance = self._sources.get(source)
        if allowance is None:
            if len(self._sources) >= MAX_SOURCES:
                self._sources.clear()
            allowance = self._sources[source] = _Allowance(PER_SOURCE_RATE, PER_SOURCE_BURST, now)
        if not allowance.take(now):
            allowance.dropped += 1
            return
        if not self._total.take(now):
            allowance.tokens += 1  # not this source's doing: its own allowance is left as it was
            allowance.dropped += 1
            return
        dropped, allowance.dropped = allowance.dropped, 0
        record = AuditRecord.refused(
            request_id=request_id,
            source=source,
            transport=endpoint,
            reason=error.reason,
            code=error.code,
            http_status=http_status(error, admin=endpoint == "admin"),
            config_version=self._config_version(),
            detail=detail,
            dropped=dropped,
        )
        try:
            await self._writer.write(record)
        except AuditUnavailable:  # the request is refused either way; the trail's failure is counted elsewhere
            log.error("the audit record of a refused request could not be written")


async def record_admin_refusal(
    audit: AuditWriter,
    request_id: str,
    source: str | None,
    principal: Principal,
    action: str,
    refusal: GatewayError,
    config_version: str,
) -> None:
    """The ``request/refused`` record of an authenticated caller refused by an admin endpoint.

    Never rate-limited, unlike :class:`RefusalLog`: the caller is known, so a flood is theirs to answer for.
    The caller is refused whether or not the record could be written, so a write failure is only logged.
    """
    record = AuditRecord.refused(
        request_id=request_id,
        source=source,
        transport="admin",
        principal=principal,
        method=action,
        reason=refusal.reason,
        code=refusal.code,
        http_status=http_status(refusal, admin=True),
        config_version=config_version,
    )
    try:
        await audit.write(record)
    except AuditUnavailable:
        log.error("the audit record of a refused %s request could not be written", action)
