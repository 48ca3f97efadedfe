"""Prometheus metrics, kept in a registry per gateway app rather than the process-wide default.

One registry per app means several gateways in one process (the test suite,
the benchmark) never share or collide on counters. Labels hold only bounded,
non-personal values: tool names and backends from the configuration, stages of
the pipeline, decisions and reasons from the error tree, reload outcomes, HTTP
endpoints and statuses. Subjects and tenants are left out: they are unbounded,
and the audit trail is the place to ask who did what.

What changes on the call path is counted there (a cached child per label set);
what is a state (circuits, slots in use, the audit queue, the store, approvals
waiting) is read when Prometheus scrapes, so the call path pays nothing for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge import is_loopback
from gateway.errors import RateLimited
from gateway.logs import FIELDS

#: The tool label of a call that named no configured tool; a caller must not be able to mint label values.
UNKNOWN_TOOL = "(unknown)"

#: From the gateway's own sub-millisecond refusals to backends that use their whole deadline.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: A stage's own time is mostly microseconds; waiting (a queue, a backoff, the audit write) reaches seconds.
_STAGE_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.25, 1.0, 5.0)
#: An audit write or fdatasync: microseconds on a page cache, tens of milliseconds on a busy disk.
_DISK_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Circuit states as pybreaker names them, and as the ``state`` label says them.
_CIRCUIT_STATES = {"closed": "closed", "open": "open", "half-open": "half_open"}
#: The line every tool call logs at INFO (``callgate.calls``), with its request and decision ids.
_calls_log = logging.getLogger("callgate.calls")


@dataclass(frozen=True, slots=True)
class BackendState:
    """One backend as a scrape sees it: its circuit and its concurrency limiter."""

    backend: str
    circuit: str
    in_flight: int
    queued: int


class Metrics:
    """Every metric callgate exports, registered in a :class:`CollectorRegistry` of its own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.tool_calls = Counter(
            "callgate_tool_calls",
            "Tool calls by tool, decision (allowed, refused, failed, tool_error, cancelled) and reason.",
            ["tool", "decision", "reason"],
            registry=self.registry,
        )
        self.tool_call_seconds = Histogram(
            "callgate_tool_call_duration_seconds",
            "Time from entering the pipeline to the decision or the backend's answer, by tool.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "callgate_stage_duration_seconds",
            "Time spent in each pipeline stage itself, the stages inside it excluded (waiting for a slot, a "
            "backoff or the audit write included). Sampled: one tool call in 16, or every call while tracing is "
            "on.",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.backend_seconds = Histogram(
            "callgate_backend_request_duration_seconds",
            "Each attempt at a backend, by backend (its service, URL origin or callable) and outcome (ok, "
            "tool_error, a backend.* reason, or cancelled: the deadline passed or the caller left).",
            ["backend", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_responses = Counter(
            "callgate_http_responses",
            "HTTP responses by endpoint (/mcp, /rpc, /admin, /metrics, ...) and status, refusals at the edge "
            "(401, 403, 408, 413, 431) included.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.rate_limit_refusals = Counter(
            "callgate_rate_limit_refusals",
            "Requests refused with -31429 (a rate limit, the request budget or the initialize limit), by method.",
            ["method"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "callgate_config_reloads",
            "Configuration reload attempts by outcome (success, failure) and trigger (watch, signal, admin).",
            ["outcome", "trigger"],
            registry=self.registry,
        )
        self.config_info = Gauge(
            "callgate_config_info",
            "The configuration in force: always 1, labelled with its version (the hash of its files).",
            ["version"],
            registry=self.registry,
        )
        self.store_up = Gauge(
            "callgate_store_up",
            "1 while the state store (memory, or redis when CALLGATE_REDIS_URL is set) answers; 0 while callgate "
            "refuses what needs it.",
            ["store"],
            registry=self.registry,
        )
        self.audit_write_failures = Counter(
            "callgate_audit_write_failures",
            "Audit records that could not be written (disk full, permission denied, directory gone); each one's "
            "request was refused with audit.unavailable.",
            registry=self.registry,
        )
        self.audit_write_seconds = Histogram(
            "callgate_audit_write_duration_seconds",
            "One write(2) of a group of audit records to the trail's segment.",
            buckets=_DISK_BUCKETS,
            registry=self.registry,
        )
        self.audit_fsync_seconds = Histogram(
            "callgate_audit_fsync_duration_seconds",
            "One fdatasync of the trail's segment (audit.durability: fsync, and the final checkpoint).",
            buckets=_DISK_BUCKETS,
            registry=self.registry,
        )
        self.pii_findings = Counter(
            "callgate_pii_findings",
            "Personal data found in tool calls, by entity type (from the configuration), direction (arguments, "
            "result) and action (redact, mask, hash, block). Never a value.",
            ["entity", "direction", "action"],
            registry=self.registry,
        )
        self.approvals_pending = Gauge(
            "callgate_approvals_pending",
            "Tool calls waiting for a human decision (set by the approvals component, or read from it at scrape).",
            registry=self.registry,
        )
        #: The last reload's outcome, for /readyz: (outcome, trigger), None before any reload.
        self.last_reload: tuple[str, str] | None = None
        ProcessCollector(registry=self.registry)

    def for_tools(self, tools: Iterable[str]) -> CallMetrics:
        """The recorder one runtime's audit stage uses: it knows that configuration's tool names."""
        return CallMetrics(self, tools)

    def config_in_force(self, version: str) -> None:
        # One series at a time: the old version's series goes, so "which version runs" is a plain query.
        self.config_info.clear()
        self.config_info.labels(version).set(1)

    def watch_store(self, kind: str, answering: Callable[[], bool], errors: Callable[[], int] | None = None) -> None:
        """Read the store's state (and its error count, when it keeps one) at each scrape."""
        self.store_up.labels(kind).set_function(lambda: 1.0 if answering() else 0.0)
        if errors is not None:
            self.registry.register(_StoreErrors(kind, errors))

    def watch_backends(self, read: Callable[[], Iterable[BackendState]]) -> None:
        """Circuit state, calls in flight and calls queued per backend, read from ``read`` at each scrape."""
        self.registry.register(_Backends(read))

    def watch_audit_queue(self, depth: Callable[[], int]) -> None:
        self.registry.register(_Gauge("callgate_audit_queue_depth", "Audit records waiting for the writer.", depth))

    def watch_approvals(self, pending: Callable[[], int]) -> None:
        """Hook for the approvals component: ``pending()`` is read at each scrape (it must not block).

        The alternative, for a component that knows when the count changes: ``approvals_pending.set(n)``,
        ``.inc()`` and ``.dec()``. Use one or the other.
        """
        self.approvals_pending.set_function(lambda: float(pending()))

    def audit_write_failed(self, records: int) -> None:
        """Called from the audit writer's thread (prometheus_client counters are thread-safe)."""
        self.audit_write_failures.inc(records)

    def audit_written(self, write_s: float, fsync_s: float | None) -> None:
        """One group of records reached the segment (from the writer's thread); ``fsync_s`` when it was synced."""
        self.audit_write_seconds.observe(write_s)
        if fsync_s is not None:
            self.audit_fsync_seconds.observe(fsync_s)

    def pii_found(self, entity: str, direction: str, action: str, count: int) -> None:
        self.pii_findings.labels(entity, direction, action).inc(count)

    def reload_attempted(self, outcome: str, trigger: str) -> None:
        self.config_reloads.labels(outcome, trigger).inc()
        self.last_reload = (outcome, trigger)

    def rate_limited(self, method: str) -> None:
        self.rate_limit_refusals.labels(method).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class CallMetrics:
    """Counts, times and logs tool calls for one configuration; names outside it count as :data:`UNKNOWN_TOOL`.

    The audit stage calls :meth:`observe` once per call, so metrics, the call's log line and the audit
    record agree on every outcome.
    """

    __slots__ = ("_children", "_known", "_metrics")

    def __init__(self, metrics: Metrics, tools: Iterable[str]) -> None:
        self._metrics = metrics
        self._known = frozenset(tools)
        # Labelled children cached per label set: ``labels()`` takes a lock and builds a key on every call.
        # The set is bounded: configured tools x decisions x reasons.
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def observe(self, tool: str, decision: str, reason: str, seconds: float) -> None:
        if tool not in self._known:
            tool = UNKNOWN_TOOL
        key = (tool, decision, reason)
        children = self._children.get(key)
        if children is None:
            children = (
                self._metrics.tool_calls.labels(tool, decision, reason),
                self._metrics.tool_call_seconds.labels(tool),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if reason == RateLimited.reason:
            self._metrics.rate_limited("tools/call")
        if _calls_log.isEnabledFor(logging.INFO):
            latency_ms = round(seconds * 1000, 3)
            facts = {"event": "tool.call", "tool": tool, "decision": decision, "reason": reason, "ms": latency_ms}
            _calls_log.info("tool call", extra={FIELDS: facts})


class _Gauge(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        self._name, self._documentation, self._read = name, documentation, read

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, value=self._read())


class _StoreErrors(Collector):
    def __init__(self, kind: str, errors: Callable[[], int]) -> None:
        self._kind, self._errors = kind, errors

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "callgate_store_errors",
            "State store commands that failed (unreachable, timed out, or refused by Redis).",
            labels=["store"],
        )
        family.add_metric([self._kind], self._errors())
        yield family


class _Backends(Collector):
    def __init__(self, read: Callable[[], Iterable[BackendState]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        circuit = GaugeMetricFamily(
            "callgate_circuit_state",
            "Each backend's circuit: 1 for the state it is in (closed, open, half_open), 0 for the others.",
            labels=["backend", "state"],
        )
        in_flight = GaugeMetricFamily(
            "callgate_backend_in_flight", "Calls at each backend now (concurrency slots in use).", labels=["backend"]
        )
        queued = GaugeMetricFamily(
            "callgate_backend_queued", "Calls waiting for a concurrency slot at each backend.", labels=["backend"]
        )
        for state in self._read():
            current = _CIRCUIT_STATES.get(state.circuit, state.circuit)
            for name in _CIRCUIT_STATES.values():
                circuit.add_metric([state.backend, name], 1.0 if name == current else 0.0)
            in_flight.add_metric([state.backend], state.in_flight)
            queued.add_metric([state.backend], state.queued)
        yield from (circuit, in_flight, queued)


#: The first path segment of each endpoint callgate serves; any other path counts as "other".
_ENDPOINTS = {name: "/" + name for name in ("mcp", "rpc", "admin", "metrics", "healthz", "readyz", ".well-known")}


class InFlight:
    """HTTP requests being served now: what a graceful shutdown waits for before the audit trail closes."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: asyncio.Event | None = None

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until no request is in flight, at most ``timeout_s``; whether none is."""
        if self.count > 0:
            self._idle = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self.count == 0


class CountResponses:
    """Pure ASGI: counts every HTTP response by endpoint and status, the edge's own refusals included.

    Outermost but for the request id, so a 403 from the Host check or a 413 from the body limit is
    counted like an answer from an endpoint. Paths are mapped to a fixed set: a caller cannot mint labels.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, in_flight: InFlight) -> None:
        self.app = app
        self._counter = metrics.http_responses
        self._children: dict[tuple[str, int], Counter] = {}
        self._in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = _ENDPOINTS.get(scope["path"][1:].split("/", 1)[0], "other")

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                key = (endpoint, message["status"])
                child = self._children.get(key)
                if child is None:
                    child = self._children[key] = self._counter.labels(endpoint, str(message["status"]))
                child.inc()
            await send(message)

        self._in_flight.enter()
        try:
            await self.app(scope, receive, counting_send)
        finally:
            self._in_flight.leave()


class ScrapeAccess:
    """Who may read /metrics: with a token configured, whoever presents it; without one, loopback clients only.

    The labels hold no personal data, but call counts, tool names and the configuration version
    are still nobody else's business. The token is compared in constant time.
    """

    #: A shorter token is refused at start: it could be guessed.
    min_token_length = 16

    def __init__(self, token: str | None) -> None:
        self._expected = f"Bearer {token}".encode() if token is not None else None

    @property
    def needs_token(self) -> bool:
        return self._expected is not None

    def allows(self, authorization: bytes | None, client_host: str | None) -> bool:
        if self._expected is None:
            return client_host is not None and is_loopback(client_host)
        return authorization is not None and hmac.compare_digest(authorization, self._expected)
