"""The tool's ``timeout_s`` as one deadline over everything below it: queueing, every attempt, every backoff.

The clock starts when the call reaches this stage and covers waiting for a turn
at the backend, each retry and its backoff sleep, and the backend exchange to
its last byte, so a backend that drips one byte a second cannot hold a call past
it. When it passes, the call's task is cancelled wherever it waits and the call
ends with :class:`~gateway.errors.BackendTimeout`. Only this deadline's expiry
becomes a timeout: a ``TimeoutError`` raised below for any other reason (aiohttp
has its own) keeps its meaning, and a caller going away stays a cancellation.

Stages below may read the deadline with :func:`deadline` (the retry stage does,
so it never starts a backoff it could not finish). It lives in a context
variable, not in ``call.notes``, which goes to the audit record.

Why not ``asyncio.timeout``: it arms and cancels an event-loop timer per call,
about 5 µs on this hot path. Deadlines here are kept in one FIFO queue per
distinct ``timeout_s`` (calls with the same timeout expire in the order they
came), so a call only appends itself and marks itself finished, and one loop
timer, set for the earliest deadline still pending, does the cancelling; it is
re-armed about once per ``timeout_s``, not once per call. Cancellation is
handled as ``asyncio.timeout`` handles it: the deadline's own cancel request
is withdrawn (``Task.uncancel``) before the timeout is reported, and any other
is left to propagate.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from contextvars import ContextVar

from gateway.config import Config
from gateway.errors import BackendTimeout
from gateway.pipeline import Handler, ToolCall, ToolResult

_deadline: ContextVar[float | None] = ContextVar("callgate_deadline", default=None)
#: A timer may fire this much early (libuv counts whole milliseconds): such a deadline has passed.
_RESOLUTION_S = 0.001


def deadline() -> float | None:
    """The event-loop time (``loop.time()``) by which the current call must end; None outside this stage."""
    return _deadline.get()


class _Pending:
    """One call under its deadline."""

    __slots__ = ("expired", "finished", "task", "when")

    def __init__(self, when: float, task: asyncio.Task[object]) -> None:
        self.when = when
        self.task = task
        self.finished = False
        self.expired = False


class _Watch:
    """The pending deadlines of one event loop and the one timer that enforces them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeouts: dict[str, float]) -> None:
        self.loop = loop
        by_timeout = {timeout_s: deque[_Pending]() for timeout_s in set(timeouts.values())}
        self.queues = {name: by_timeout[timeout_s] for name, timeout_s in timeouts.items()}
        self._all = tuple(by_timeout.values())
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def start(self, queue: deque[_Pending], timeout_s: float, task: asyncio.Task[object]) -> _Pending:
        pending = _Pending(self.loop.time() + timeout_s, task)
        queue.append(pending)
        if pending.when < self._timer_at:  # no timer yet, or one set for a longer timeout's deadline
            self._arm(pending.when)
        return pending

    @staticmethod
    def finish(queue: deque[_Pending], pending: _Pending) -> None:
        pending.finished = True
        while queue and queue[0].finished:  # calls mostly end in the order they came: the queue stays short
            queue.popleft()

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(when, self._expire)
        self._timer_at = when

    def _expire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        now = self.loop.time() + _RESOLUTION_S
        earliest = math.inf
        for queue in self._all:
            while queue:
                head = queue[0]
                if not head.finished and head.when > now:
                    earliest = min(earliest, head.when)
                    break
                queue.popleft()
                if not head.finished:
                    head.expired = True
                    head.task.cancel("callgate: the tool's deadline passed")
        if earliest < math.inf:
            self._arm(earliest)


class Deadline:
    def __init__(self, config: Config) -> None:
        self._timeouts = {name: spec.timeout_s for name, spec in config.tools.items()}
        self._watch: _Watch | None = None

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        timeout_s = self._timeouts.get(call.tool_name)
        if timeout_s is None:  # a tool without a spec cannot get this far; nothing to bound
            return await call_next(call)
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("the deadline stage must run inside a task")
        loop = task.get_loop()
        watch = self._watch
        if watch is None or watch.loop is not loop:  # the first call, or a new loop (tests run several)
            watch = self._watch = _Watch(loop, self._timeouts)
        queue = watch.queues[call.tool_name]
        cancelling = task.cancelling()
        pending = watch.start(queue, timeout_s, task)
        token = _deadline.set(pending.when)
        try:
            result = await call_next(call)
        except (asyncio.CancelledError, Exception):
            # Expired: our cancellation, or whatever a layer below turned it into, is the timeout, unless someone
            # else cancelled the call too (the caller went away): then the cancellation goes on.
            if pending.expired and task.uncancel() <= cancelling:
                raise BackendTimeout() from None
            raise
        finally:
            _deadline.reset(token)
            watch.finish(queue, pending)
        if pending.expired:  # a layer below swallowed our cancellation and answered anyway: withdraw it
            task.uncancel()
        return result


__all__ = ["Deadline", "deadline"]
