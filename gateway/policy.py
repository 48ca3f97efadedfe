"""The Casbin policy engine: deny by default, any engine fault denies, decisions cached."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import casbin

from gateway.auth import Principal
from gateway.config import ApiKeyEntry, Config, ConfigError

log = logging.getLogger("callgate.policy")

_CACHE_LIMIT = 65_536


class PolicyEngine:
    """Answers whether a principal may perform an action (``call``, ``list``) on a tool.

    The request is (subject, tenant, tool, action) when the model has four
    request fields, and (subject, tool, action) for models without tenants, so
    Casbin's own example models load unchanged. Roles of configured principals
    are added as grouping rules within their tenant. An engine is immutable once
    built: a new policy means a new engine, so its decision cache never goes stale.
    """

    def __init__(self, config: Config, principals: Iterable[ApiKeyEntry] = ()) -> None:
        try:
            self._enforcer = casbin.Enforcer(str(config.model_path), str(config.policy_path))
            model = self._enforcer.model
            self._with_tenant = len(model["r"]["r"].tokens) >= 4
            # casbin's Model has no __contains__: "in" on it would iterate by index forever.
            sections = model.keys()
            grouping = model["g"]["g"] if "g" in sections and "g" in model["g"] else None
            self._role_arity = len(grouping.value.split(",")) if grouping is not None else 0
            for entry in principals:
                for role in entry.roles:
                    self._add_role(entry.subject, role, entry.tenant)
        except ConfigError:
            raise
        except Exception as exc:  # Casbin raises bare exceptions of many kinds for bad files
            raise ConfigError(config.model_path, f"cannot load the Casbin model and policy: {exc}") from None
        self._cache: dict[tuple[str, str, str, str, tuple[str, ...]], bool] = {}

    def allows(self, principal: Principal, tool: str, action: str) -> bool:
        key = (principal.subject, principal.tenant, tool, action, principal.roles)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._decide(principal, tool, action)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = decision
        return decision

    def _decide(self, principal: Principal, tool: str, action: str) -> bool:
        subjects = [principal.subject] if self._role_arity else [principal.subject, *principal.roles]
        try:
            for subject in subjects:
                request = (subject, principal.tenant, tool, action) if self._with_tenant else (subject, tool, action)
                if self._enforcer.enforce(*request):
                    return True
        except Exception:
            log.exception("policy engine fault; denying")
        return False

    def _add_role(self, subject: str, role: str, tenant: str) -> None:
        if self._role_arity >= 3:
            self._enforcer.add_grouping_policy(subject, role, tenant)
        elif self._role_arity == 2:
            self._enforcer.add_grouping_policy(subject, role)
