"""The pipeline composed with its observations: time per stage, a span per stage, backend latency, decision id.

:func:`observed` folds the stage list twice. The plain chain is
:func:`gateway.pipeline.compose` itself. The observed chain wraps every stage
so that it records its own time (the stages inside it excluded) in
``callgate_stage_duration_seconds`` and, when tracing is configured, runs in a
span of its own. A histogram observation costs about 1.6 µs here, so thirteen
of them on every call would be ~5 % of a request; the observed chain therefore
takes one call in :data:`STAGE_SAMPLE_EVERY` (every call while tracing is on,
which costs far more anyway), and the others run the plain chain untouched.

Two things hold for every call, sampled or not: each attempt at the backend is
timed in ``callgate_backend_request_duration_seconds``, and the call runs with
a fresh decision id in the log context (:data:`gateway.logs.DECISION_ID`),
which the audit stage writes on the call's record.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import Histogram

from gateway.config import Config
from gateway.errors import RateLimited, as_gateway_error
from gateway.logs import DECISION_ID
from gateway.metrics import Metrics
from gateway.pipeline import Handler, Stage, ToolCall, ToolResult, compose
from gateway.stages.per_backend import backend_key

if TYPE_CHECKING:
    from gateway.tracing import Tracing

#: A dispatcher method: ``(params, context) -> result``.
Method = Callable[[Any, Any], Awaitable[Any]]

#: One tool call in this many goes through the per-stage timers when tracing is off.
STAGE_SAMPLE_EVERY = 16

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def stage_name(stage: object) -> str:
    """``RateLimit`` → ``rate_limit``, ``invoke`` → ``invoke``: the stage label, bounded by the stage list."""
    name = stage.__name__ if callable(stage) and hasattr(stage, "__name__") else type(stage).__name__
    return _CAMEL.sub("_", name).lower()


def observed(
    stages: Sequence[Stage],
    endpoint: Handler,
    config: Config,
    metrics: Metrics | None,
    tracing: Tracing | None = None,
) -> Handler:
    """The handler for ``stages`` around ``endpoint``, observed as the module docstring says."""
    if metrics is None and tracing is None:
        return compose(stages, endpoint)
    timed_endpoint = endpoint
    if metrics is not None:
        backends = {name: backend_key(spec) for name, spec in config.tools.items()}
        timed_endpoint = BackendTimer(endpoint, metrics.backend_seconds, backends)
    plain = compose(stages, timed_endpoint)
    wrapped = [_Observed(stage, stage_name(stage), metrics, tracing) for stage in stages]
    inner = _Observed(None, stage_name(endpoint), metrics, tracing, endpoint=timed_endpoint)
    sampled = compose(wrapped, inner.as_endpoint)
    every = 1 if tracing is not None else STAGE_SAMPLE_EVERY
    return Entry(plain, sampled, every)


class Entry:
    """Where a tool call enters the pipeline: its decision id, and the plain or the observed chain."""

    __slots__ = ("_count", "_every", "_plain", "_sampled")

    def __init__(self, plain: Handler, sampled: Handler, every: int) -> None:
        self._plain, self._sampled, self._every = plain, sampled, every
        self._count = 0

    async def __call__(self, call: ToolCall) -> ToolResult:
        token = DECISION_ID.set(uuid.uuid4().hex)
        try:
            self._count += 1
            if self._count >= self._every:
                self._count = 0
                return await self._sampled(call)
            return await self._plain(call)
        finally:
            DECISION_ID.reset(token)


class _Inner:
    """``call_next`` as a stage sees it, adding up the time spent below (retries call it more than once)."""

    __slots__ = ("_next", "spent")

    def __init__(self, call_next: Handler) -> None:
        self._next = call_next
        self.spent = 0.0

    async def __call__(self, call: ToolCall) -> ToolResult:
        started = time.perf_counter()
        try:
            return await self._next(call)
        finally:
            self.spent += time.perf_counter() - started


class _Observed:
    """One stage (or the endpoint) timed on its own, and in a span when tracing is on."""

    __slots__ = ("_endpoint", "_name", "_stage", "_timer", "_tracing")

    def __init__(
        self,
        stage: Stage | None,
        name: str,
        metrics: Metrics | None,
        tracing: Tracing | None,
        endpoint: Handler | None = None,
    ) -> None:
        self._stage, self._endpoint, self._name, self._tracing = stage, endpoint, name, tracing
        self._timer = metrics.stage_seconds.labels(name) if metrics is not None else None

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        assert self._stage is not None
        if self._tracing is None:
            return await self._timed(call, call_next)
        with self._tracing.stage_span(self._name):
            return await self._timed(call, call_next)

    async def as_endpoint(self, call: ToolCall) -> ToolResult:
        assert self._endpoint is not None
        if self._tracing is None:
            return await self._timed_endpoint(call)
        with self._tracing.stage_span(self._name):
            return await self._timed_endpoint(call)

    async def _timed(self, call: ToolCall, call_next: Handler) -> ToolResult:
        assert self._stage is not None
        inner = _Inner(call_next)
        started = time.perf_counter()
        try:
            return await self._stage(call, inner)
        finally:
            if self._timer is not None:
                self._timer.observe(max(0.0, time.perf_counter() - started - inner.spent))

    async def _timed_endpoint(self, call: ToolCall) -> ToolResult:
        assert self._endpoint is not None
        started = time.perf_counter()
        try:
            return await self._endpoint(call)
        finally:
            if self._timer is not None:
                self._timer.observe(time.perf_counter() - started)


class BackendTimer:
    """Times each attempt at the backend, by backend and outcome; wraps the innermost handler."""

    __slots__ = ("_backends", "_children", "_endpoint", "_histogram")

    def __init__(self, endpoint: Handler, histogram: Histogram, backends: dict[str, str]) -> None:
        self._endpoint, self._histogram, self._backends = endpoint, histogram, backends
        self._children: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, call: ToolCall) -> ToolResult:
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = await self._endpoint(call)
            if result.is_error:
                outcome = "tool_error"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:
            outcome = as_gateway_error(exc).reason
            raise
        finally:
            self._observe(call.tool_name, outcome, time.perf_counter() - started)

    def _observe(self, tool: str, outcome: str, seconds: float) -> None:
        backend = self._backends.get(tool)
        if backend is None:  # resolve refuses unknown tools long before; nothing to label it with
            return
        key = (backend, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._histogram.labels(backend, outcome)
        child.observe(seconds)


def observe_methods(
    methods: dict[str, Method], metrics: Metrics, tracing: Tracing | None, known_tools: Callable[[], Collection[str]]
) -> None:
    """Wrap the dispatcher's methods: rate-limit refusals counted by method, ``tools/call`` traced from ``_meta``.

    ``tools/call`` counts its own refusals in its pipeline (the audit stage's metrics), so it is not wrapped
    for that; it is wrapped only when tracing is on.
    """
    for name, method in list(methods.items()):
        if name != "tools/call":
            methods[name] = _counting_refusals(name, method, metrics)
        elif tracing is not None:
            methods[name] = tracing.continue_from_meta(method, known_tools)


def _counting_refusals(name: str, method: Method, metrics: Metrics) -> Method:
    async def counted(params: Any, context: Any) -> Any:
        try:
            return await method(params, context)
        except RateLimited:
            metrics.rate_limited(name)
            raise

    return counted


__all__ = [
    "STAGE_SAMPLE_EVERY",
    "BackendTimer",
    "Entry",
    "observe_methods",
    "observed",
    "stage_name",
]
