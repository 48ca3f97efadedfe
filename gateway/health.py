"""``GET /readyz``: whether this process should be sent calls, and if not, why (configuration, audit, store).

Each check answers with ``ok`` and, when not, a ``reason`` a person can act on;
the first failing one is also the top-level ``reason``. The configuration
check never fails by itself: a reload that failed leaves the previous
configuration in force and serving, which is exactly what a rolling change of a
broken ConfigMap must not turn into every pod leaving the load balancer. It
says which version is in force and how the last reload went.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.errors import StoreUnavailable
from gateway.store import Store


class Readiness:
    def __init__(
        self,
        *,
        audit_problem: Callable[[], str | None],
        store: Store,
        version: Callable[[], str],
        last_reload: Callable[[], tuple[str, str] | None],
    ) -> None:
        self._audit_problem = audit_problem
        self._store = store
        self._version = version
        self._last_reload = last_reload

    async def check(self) -> tuple[dict[str, Any], int]:
        """The /readyz body and its status: 200 when every check passes, else 503."""
        version = self._version()
        config: dict[str, Any] = {"ok": True, "version": version}
        reload = self._last_reload()
        if reload is not None:
            config["last_reload"] = {"outcome": reload[0], "trigger": reload[1]}
        problem = self._audit_problem()
        audit: dict[str, Any] = {"ok": problem is None}
        if problem is not None:
            audit["reason"] = problem
        store: dict[str, Any] = {"ok": await self._answers(), "kind": self._store.kind}
        if not store["ok"]:
            store["reason"] = f"{StoreUnavailable.reason}: the {self._store.kind} store does not answer"
        checks = {"config": config, "audit": audit, "store": store}
        failing = [check["reason"] for check in checks.values() if not check["ok"]]
        body: dict[str, Any] = {"status": "not ready" if failing else "ready", "config_version": version}
        if failing:
            body["reason"] = failing[0]
        body["checks"] = checks
        return body, 503 if failing else 200

    async def _answers(self) -> bool:
        try:
            await self._store.ping()
        except StoreUnavailable:
            return False
        return True


__all__ = ["Readiness"]
