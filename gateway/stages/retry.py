"""Retries with jittered backoff, for idempotent tools and transient failures only.

A tool marked ``idempotent: true`` is called again after a
:class:`~gateway.errors.BackendTransient` failure: no connection, a connection
dropped before any answer, or a 502/503/504. Nothing else is retried: not a
timeout (the deadline is spent), not another 5xx, garbage or an output-schema
violation (the backend answered, wrongly), not a 4xx (a business answer), and
never a tool without ``idempotent``, whose second call could repeat its effect.

Between attempts it sleeps with full jitter, ``uniform(0, min(max_delay_s,
base_delay_s * 2**n))`` before retry ``n`` (from 0), so callers that failed
together do not come back together. It never starts a backoff that would end
past the call's deadline (see :mod:`gateway.stages.deadline`): it gives up at
once with the last failure instead. ``max_attempts`` counts the first attempt;
when more than one was made, ``call.notes["attempts"]`` says how many.
"""

from __future__ import annotations

import asyncio
import random

from gateway.config import Config
from gateway.config.model import RetrySpec
from gateway.errors import BackendTransient
from gateway.pipeline import Handler, ToolCall, ToolResult
from gateway.stages.deadline import deadline


class Retry:
    def __init__(self, config: Config, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not secrecy)
        self._policies = {
            name: policy
            for name, spec in config.tools.items()
            if spec.idempotent and (policy := spec.retry or RetrySpec()).max_attempts > 1
        }

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        policy = self._policies.get(call.tool_name)
        if policy is None:  # not idempotent, or retries turned off
            return await call_next(call)
        try:
            return await call_next(call)
        except BackendTransient as failure:
            last = failure
        return await self._again(call, call_next, policy, last)

    async def _again(self, call: ToolCall, call_next: Handler, policy: RetrySpec, last: BackendTransient) -> ToolResult:
        """Attempts 2..max_attempts after the first failed; raises the last failure when they run out."""
        loop = asyncio.get_running_loop()
        ends = deadline()
        for retry in range(policy.max_attempts - 1):
            delay = self._rng.uniform(0, min(policy.max_delay_s, policy.base_delay_s * 2**retry))
            if ends is not None and loop.time() + delay >= ends:
                break  # the backoff would outlast the deadline: the last failure says more than a timeout
            await asyncio.sleep(delay)
            call.notes["attempts"] = retry + 2
            call.notes.pop("backend_status", None)  # the audit record tells of the last attempt, not an earlier one
            try:
                return await call_next(call)
            except BackendTransient as failure:
                last = failure
        raise last


__all__ = ["Retry"]
