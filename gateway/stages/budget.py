"""The request budget: one GCRA bucket per principal, spent by every authenticated request.

Refused calls spend no rate-limit allowance (that stage sits after authorization
and validation), so without a budget a loop of denied calls would cost its sender
nothing while each one costs the gateway a policy decision and an audit record.
The budget is spent before anything else is decided: by every ``tools/call``,
known tool or not, allowed or not (as this stage, right inside audit, so each
refusal has its record), and by every other request (``tools/list``,
``initialize``, ``ping``) through :meth:`Budget.spend`, which the dispatcher calls.

The same holder keeps each principal's ``initialize`` allowance, spent by
:meth:`Budget.spend_initialize`: a session costs the store a record, so opening
them is limited on its own, well below the budget.

Refusal: :class:`~gateway.errors.RateLimited` with ``data.retry_after_s``. A
store that cannot answer refuses (:class:`~gateway.errors.StoreUnavailable`),
except for a tool whose rate limit allows a local fallback, which the budget
honours so that such a tool still works while Redis is down.
"""

from __future__ import annotations

import math
from urllib.parse import quote

from gateway.auth import Principal
from gateway.config import Config
from gateway.config.model import RateLimitSpec
from gateway.errors import RateLimited
from gateway.pipeline import Handler, ToolCall, ToolResult
from gateway.store import Bucket, Store

#: Buckets kept per principal; cleared when full, since a bucket is cheap to rebuild.
_MAX_CACHED = 10_000


class Budget:
    def __init__(self, config: Config, store: Store) -> None:
        settings = config.gateway.rate_limits
        self._store = store
        self._budget = _Allowance("budget", settings.budget)
        self._initialize = _Allowance("initialize", settings.initialize)
        self._fallback = {name for name, spec in config.tools.items() if spec.rate_limit_local_fallback}

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        await self._take(self._budget.bucket(call.principal), local_fallback=call.tool_name in self._fallback)
        return await call_next(call)

    async def spend(self, principal: Principal) -> None:
        """One request of any other method from ``principal``'s budget; RateLimited when it is spent."""
        await self._take(self._budget.bucket(principal), local_fallback=False)

    async def spend_initialize(self, principal: Principal) -> None:
        """One ``initialize`` from ``principal``'s allowance (on top of its budget); RateLimited when spent."""
        await self._take(self._initialize.bucket(principal), local_fallback=False)

    async def _take(self, bucket: Bucket, *, local_fallback: bool) -> None:
        wait = await self._store.take((bucket,), local_fallback=local_fallback)
        if wait > 0:
            raise RateLimited(data={"retry_after_s": math.ceil(wait * 1000) / 1000})


class _Allowance:
    """One limit, one bucket per principal (its key escaped, so no subject or tenant can forge another's)."""

    def __init__(self, name: str, limit: RateLimitSpec) -> None:
        self._name = name
        self._limit = limit
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def bucket(self, principal: Principal) -> Bucket:
        owner = (principal.tenant, principal.subject)
        bucket = self._buckets.get(owner)
        if bucket is None:
            key = f"{self._name}:{quote(principal.tenant, safe='')}:{quote(principal.subject, safe='')}"
            bucket = Bucket(key=key, interval_s=self._limit.interval_s, burst=self._limit.burst)
            if len(self._buckets) >= _MAX_CACHED:
                self._buckets.clear()
            self._buckets[owner] = bucket
        return bucket


__all__ = ["Budget"]
