"""Bounded concurrency per backend: at most ``max_in_flight`` calls at it, at most ``max_queue`` waiting.

A hung backend then ties up a fixed number of calls, connections and
coroutines, not the whole gateway: one more call than the queue holds is refused
at once with :class:`~gateway.errors.BackendUnavailable` (``data.retry_after_s``)
instead of piling up. Waiting calls get their turn first come, first served, and
the deadline stage above bounds how long any of them waits.

Limiters are keyed like the breaker's circuits (:mod:`gateway.stages.per_backend`),
so tools sharing a backend share one, with the strictest settings any of them
declares: the lowest ``max_in_flight`` and the lowest ``max_queue``, whatever
the file order; a backend none of whose tools declares one gets the defaults.

The common case (a free slot, nobody waiting) is a counter, not an
``asyncio.Semaphore``: no future, no await. A call leaving hands its slot
straight to the first waiter, so a newcomer cannot overtake the queue.
A reload keeps a backend's limiter unless its settings changed, so calls still
running under the replaced configuration keep counting against it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from gateway.config import Config
from gateway.config.model import ConcurrencySpec
from gateway.errors import BackendUnavailable
from gateway.pipeline import Handler, ToolCall, ToolResult
from gateway.stages.per_backend import PerBackend


class Limiter:
    """One backend's slots and queue. Safe on one event loop: nothing awaits between a check and its change."""

    __slots__ = ("_waiters", "in_flight", "max_in_flight", "max_queue")

    def __init__(self, settings: ConcurrencySpec) -> None:
        self.max_in_flight = settings.max_in_flight
        self.max_queue = settings.max_queue
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is waiting for it."""
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait in line for a slot, or raise BackendUnavailable at once when the line is full."""
        if self.try_acquire():
            return
        if len(self._waiters) >= self.max_queue:
            raise BackendUnavailable("Backend busy: too many calls waiting", data={"retry_after_s": 1})
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except BaseException:  # cancelled: the deadline passed or the caller went away
            if turn.done() and not turn.cancelled():
                self.release()  # the slot was handed over just as the cancellation came: pass it on, or it is lost
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it already
                    self._waiters.remove(turn)
            raise

    def release(self) -> None:
        """Give the slot to the first waiter, or free it."""
        waiters = self._waiters
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot changes hands: in_flight stays as it is
                return
        self.in_flight -= 1


class Concurrency:
    def __init__(self, config: Config, previous: Concurrency | None = None) -> None:
        self.limiters: PerBackend[ConcurrencySpec, Limiter] = PerBackend(
            config,
            settings_of=lambda spec: spec.concurrency,
            strictest=_strictest,
            default=ConcurrencySpec(),
            build=lambda key, settings: Limiter(settings),
            previous=previous.limiters if previous is not None else None,
        )
        self._limiters = self.limiters.by_tool

    def limiter(self, tool_name: str) -> Limiter | None:
        return self._limiters.get(tool_name)

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        limiter = self._limiters.get(call.tool_name)
        if limiter is None:  # a tool without a spec cannot get this far; nothing to bound
            return await call_next(call)
        if not limiter.try_acquire():
            try:
                await limiter.acquire()
            except BackendUnavailable:
                call.notes["concurrency"] = "queue_full"  # tells busy from an open circuit in the audit trail
                raise
        try:
            return await call_next(call)
        finally:
            limiter.release()


def _strictest(first: ConcurrencySpec, second: ConcurrencySpec) -> ConcurrencySpec:
    return ConcurrencySpec(
        max_in_flight=min(first.max_in_flight, second.max_in_flight),
        max_queue=min(first.max_queue, second.max_queue),
    )


__all__ = ["Concurrency", "Limiter"]
