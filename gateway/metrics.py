"""Prometheus metrics, kept in a registry per gateway app rather than the process-wide default.

One registry per app means several gateways in one process (the test suite,
the benchmark) never share or collide on counters. Labels hold only bounded,
non-personal values: tool names from the configuration, decisions and reasons
from the error tree, reload outcomes. Subjects and tenants are left out: they
are unbounded, and the audit trail is the place to ask who did what.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

from gateway.edge import is_loopback

#: The tool label of a call that named no configured tool; a caller must not be able to mint label values.
UNKNOWN_TOOL = "(unknown)"

#: From the gateway's own sub-millisecond refusals to backends that use their whole deadline.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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
        self.pii_findings = Counter(
            "callgate_pii_findings",
            "Personal data found in tool calls, by entity type (from the configuration), direction (arguments, "
            "result) and action (redact, mask, hash, block). Never a value.",
            ["entity", "direction", "action"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)

    def for_tools(self, tools: Iterable[str]) -> CallMetrics:
        """The recorder one runtime's audit stage uses: it knows that configuration's tool names."""
        return CallMetrics(self, tools)

    def config_in_force(self, version: str) -> None:
        # One series at a time: the old version's series goes, so "which version runs" is a plain query.
        self.config_info.clear()
        self.config_info.labels(version).set(1)

    def watch_store(self, kind: str, answering: Callable[[], bool]) -> None:
        """Read the store's state at each scrape: nothing to update on the call path."""
        self.store_up.labels(kind).set_function(lambda: 1.0 if answering() else 0.0)

    def audit_write_failed(self, records: int) -> None:
        """Called from the audit writer's thread (prometheus_client counters are thread-safe)."""
        self.audit_write_failures.inc(records)

    def pii_found(self, entity: str, direction: str, action: str, count: int) -> None:
        self.pii_findings.labels(entity, direction, action).inc(count)

    def reload_attempted(self, outcome: str, trigger: str) -> None:
        self.config_reloads.labels(outcome, trigger).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class CallMetrics:
    """Counts and times tool calls for one configuration; names outside it count as :data:`UNKNOWN_TOOL`."""

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
