"""Rate limits: GCRA per (tenant, agent, tool) and per tenant, decided by the store in one atomic step.

Which limits apply to a call, each its own bucket:

- the agent's role allowance on this tool (``rate_limits.roles`` in gateway.yaml;
  the most generous of the agent's roles, else the ``"*"`` entry);
- the tool's own per-agent allowance (``rate_limit`` in its spec);
- the tenant's allowance across all its agents and tools (``rate_limits.tenants``,
  else ``"*"``).

A call must fit all of them and is counted against all or none, so a refused call
never spends anyone's allowance. Refusal: :class:`~gateway.errors.RateLimited` with
``data.retry_after_s``, the wait until the call would fit. It sits after validation,
so malformed calls spend nothing, and before the breaker, so a limited call never
reaches the backend. A store that cannot answer refuses the call
(:class:`~gateway.errors.StoreUnavailable`) unless the tool allows a local fallback.
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

#: Bucket plans kept per (principal, tool); cleared when full, since plans are cheap to rebuild.
_MAX_PLANS = 10_000


class RateLimit:
    def __init__(self, config: Config, store: Store) -> None:
        settings = config.gateway.rate_limits
        self._store = store
        # Most generous first: the first of these a principal holds is its allowance.
        self._roles = sorted(settings.roles.items(), key=lambda item: _generosity(item[1]), reverse=True)
        self._tenants = settings.tenants
        self._tools = {name: spec.rate_limit for name, spec in config.tools.items()}
        self._fallback = {name for name, spec in config.tools.items() if spec.rate_limit_local_fallback}
        self._plans: dict[tuple[str, str, tuple[str, ...], str], tuple[Bucket, ...]] = {}

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        principal = call.principal
        plan_key = (principal.tenant, principal.subject, principal.roles, call.tool_name)
        buckets = self._plans.get(plan_key)
        if buckets is None:
            buckets = self._plan(principal, call.tool_name)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[plan_key] = buckets
        if buckets:
            wait = await self._store.take(buckets, local_fallback=call.tool_name in self._fallback)
            if wait > 0:
                raise RateLimited(data={"retry_after_s": math.ceil(wait * 1000) / 1000})
        return await call_next(call)

    def _plan(self, principal: Principal, tool: str) -> tuple[Bucket, ...]:
        caller = f"{_part(principal.tenant)}:{_part(principal.subject)}:{_part(tool)}"
        buckets: list[Bucket] = []
        role_limit = self._role_limit(principal.roles)
        if role_limit is not None:
            buckets.append(_bucket(f"agent:{caller}:role", role_limit))
        tool_limit = self._tools.get(tool)
        if tool_limit is not None:
            buckets.append(_bucket(f"agent:{caller}:tool", tool_limit))
        tenant_limit = self._tenants.get(principal.tenant, self._tenants.get("*"))
        if tenant_limit is not None:
            buckets.append(_bucket(f"tenant:{_part(principal.tenant)}", tenant_limit))
        return tuple(buckets)

    def _role_limit(self, roles: tuple[str, ...]) -> RateLimitSpec | None:
        for role, limit in self._roles:
            if role in roles:
                return limit
        return next((limit for role, limit in self._roles if role == "*"), None)


def _generosity(limit: RateLimitSpec) -> tuple[float, int]:
    return (limit.requests / limit.per_s, limit.burst)


def _bucket(key: str, limit: RateLimitSpec) -> Bucket:
    return Bucket(key=key, interval_s=limit.interval_s, burst=limit.burst)


def _part(value: str) -> str:
    """One component of a key, escaped so that no tenant, subject or tool name can forge another's key."""
    return quote(value, safe="")
