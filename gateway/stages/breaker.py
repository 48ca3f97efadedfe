"""One circuit breaker per backend: after repeated failures, refuse at once instead of waiting on it.

A circuit is a :class:`pybreaker.CircuitBreaker` keyed by the backend (the
``service`` an ``http`` backend names, else its URL's origin; the
``module:function`` of a ``python`` callable),
so tools sharing a backend share its circuit. Their ``breaker`` settings are
merged to the strictest: the lowest ``failure_threshold`` and the longest
``reset_timeout_s`` any of them declares, whatever the file order; a backend
none of whose tools declares one gets the defaults (5 failures, 30 s).

pybreaker is synchronous: handing it a coroutine function would count the
un-awaited coroutine as a success. So admission is decided here, before the
await, from the breaker's state, and the awaited outcome is then fed back
through ``breaker.call`` with a synchronous function that raises or returns:
pybreaker keeps the counters and makes the transitions (closed → open after
exactly ``failure_threshold`` consecutive failures, half-open → closed or open
after the trial), and its listener tells when the circuit opened.

What counts: a timeout or a bad response (unreachable, 5xx, garbage, output
schema violated) is a failure; any result, one with ``isError`` included, is a
success. Anything else (a refused argument, a cancelled call) leaves the
circuit as it was. While open, calls are refused with
:class:`~gateway.errors.BackendUnavailable` and ``data.retry_after_s``, and the
backend is not contacted. Half-open, one trial call goes through; others are
refused until it ends. A configuration reload keeps a backend's circuit, open
or not, unless its settings changed (:mod:`gateway.stages.per_backend`).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import pybreaker

from gateway.config import Config
from gateway.config.model import BreakerSpec
from gateway.errors import BackendBadResponse, BackendTimeout, BackendUnavailable
from gateway.pipeline import Handler, ToolCall, ToolResult
from gateway.stages.per_backend import PerBackend, backend_key


class _Failed(Exception):
    """Raised into pybreaker to record one failed backend call."""


def _fail() -> None:
    raise _Failed


def _succeed() -> None:
    return None


class Circuit(pybreaker.CircuitBreakerListener):
    """One backend's pybreaker circuit, driven from async code."""

    def __init__(self, name: str, settings: BreakerSpec) -> None:
        self.reset_timeout_s = settings.reset_timeout_s
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=settings.failure_threshold,
            reset_timeout=settings.reset_timeout_s,
            name=name,
            listeners=[self],
        )
        self._opened_at = 0.0  # time.monotonic() when the circuit last opened
        self._trial_running = False

    @property
    def state(self) -> str:
        return self._breaker.current_state

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            self._opened_at = time.monotonic()

    def admit(self) -> bool:
        """Let a call through, or raise BackendUnavailable; True when the call is the half-open trial.

        No await between the check and the change of state: on one event loop, two calls cannot both
        become the trial.
        """
        state = self._breaker.current_state
        if state == pybreaker.STATE_CLOSED:
            return False
        if state == pybreaker.STATE_OPEN:
            remaining = self._opened_at + self.reset_timeout_s - time.monotonic()
            if remaining > 0:
                raise BackendUnavailable(data={"retry_after_s": max(1, math.ceil(remaining))})
            self._breaker.half_open()
        if self._trial_running:  # half-open: the trial decides; callers may retry shortly
            raise BackendUnavailable(data={"retry_after_s": 1})
        self._trial_running = True
        return True

    def record(self, *, trial: bool, failed: bool) -> None:
        """Feed one outcome to pybreaker; a late answer from before the circuit opened does not count."""
        if trial:
            self._trial_running = False
            if self._breaker.current_state != pybreaker.STATE_HALF_OPEN:
                return
        elif self._breaker.current_state != pybreaker.STATE_CLOSED:
            return
        elif not failed and self._breaker.fail_counter == 0:
            return  # the hot path: a success with nothing to reset
        # A failure comes back raised: counted, and the circuit opened when it was the last straw.
        with contextlib.suppress(_Failed, pybreaker.CircuitBreakerError):
            self._breaker.call(_fail if failed else _succeed)

    def release(self, *, trial: bool) -> None:
        """The call ended without telling anything about the backend; the next call may be the trial."""
        if trial:
            self._trial_running = False


class Breaker:
    def __init__(self, config: Config, previous: Breaker | None = None) -> None:
        self.circuits: PerBackend[BreakerSpec, Circuit] = PerBackend(
            config,
            settings_of=lambda spec: spec.breaker,
            strictest=_strictest,
            default=BreakerSpec(),
            build=Circuit,
            previous=previous.circuits if previous is not None else None,
        )
        self._circuits = self.circuits.by_tool

    def circuit(self, tool_name: str) -> Circuit | None:
        return self._circuits.get(tool_name)

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        circuit = self._circuits.get(call.tool_name)
        if circuit is None:  # a tool without a spec cannot get this far; nothing to guard
            return await call_next(call)
        try:
            trial = circuit.admit()
        except BackendUnavailable:
            call.notes["breaker"] = circuit.state
            raise
        if trial:
            call.notes["breaker"] = pybreaker.STATE_HALF_OPEN
        try:
            result = await call_next(call)
        except (BackendTimeout, BackendBadResponse):
            circuit.record(trial=trial, failed=True)
            raise
        except BaseException:
            circuit.release(trial=trial)
            raise
        circuit.record(trial=trial, failed=False)  # a business error (isError) is a healthy backend
        return result


def _strictest(first: BreakerSpec, second: BreakerSpec) -> BreakerSpec:
    return BreakerSpec(
        failure_threshold=min(first.failure_threshold, second.failure_threshold),
        reset_timeout_s=max(first.reset_timeout_s, second.reset_timeout_s),
    )


__all__ = ["Breaker", "Circuit", "backend_key"]
