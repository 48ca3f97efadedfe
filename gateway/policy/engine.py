"""The policy engine the gateway asks: deny by default, deny beats allow, any engine fault or timeout denies.

Decisions are cached, per engine. An engine is immutable once built — a new
policy means a new engine — so a reload starts with empty caches and no
decision ever outlives the policy that made it. Three caches, each bounded
(cleared when full, so a flood of new keys costs speed, never memory):

- *plans*: per (subject, tenant, roles, tool), the rules that can matter
  (decide.py). Building one reads every rule once: the cold cost, which grows
  with the policy (about 7 µs a rule).
- *decisions* that do not depend on the arguments, per (subject, tenant,
  roles, tool, action): a dictionary lookup, whatever the policy's size.
- *decisions that do*, per plan, on the values of exactly the arguments the
  conditions read (argument names are learned as decisions read them, and a
  decision is reused only when every value it read is the same).

A cold decision is bounded by a deadline (``deadline_s``): the loop looks at
the clock every 256 rules and denies (uncached) when it is past. Together with
the rule limit (rules.MAX_RULES) this bounds the time any request spends here,
without threads.

:meth:`PolicyEngine.approval` answers the second question the gateway asks of a
call the policy allows: must a human approve it first (gateway.policy.approval)?
It is cached the same way, and costs one dictionary lookup for a caller and
tool that no approve rule can match.

:meth:`PolicyEngine.explain` makes the same decision uncached and hands it to
explain.py, which says in words why it is what it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import casbin

from gateway.auth import Principal
from gateway.config import Config, ConfigError
from gateway.policy import casbin_internals
from gateway.policy.approval import Approval, rule_approval, spec_approvals
from gateway.policy.arguments import Arguments, MissingArgument, frozen_values, names_read
from gateway.policy.decide import Outcome, Plan, Timeout, approval_rule, could_allow, decide, make_plan
from gateway.policy.explain import Decision, explained
from gateway.policy.matcher import Matcher, Request
from gateway.policy.rules import LinesAdapter, PolicyLine, read_policy
from gateway.policy.subjects import refuse_reserved_roles

log = logging.getLogger("callgate.policy")

_CACHE_LIMIT = 65_536
#: The action a request for the tools list is answered with (see decide.could_allow).
LIST = "list"
CALL = "call"

_Key = tuple[str, str, tuple[str, ...], str, str]
_ArgumentsKey = tuple[_Key, tuple[str, ...], tuple[Hashable, ...]]


@dataclass(frozen=True, slots=True)
class Ruling:
    """What :meth:`PolicyEngine.ruling` answers: allowed or not, and the rule that decided (for the audit record).

    Cached with the decision, so the rule costs nothing per call: ``rule`` is ``policies/policy.csv:17``,
    or None when no rule decided (deny by default, an engine fault or timeout).
    """

    allowed: bool
    rule: str | None = None


_DENIED = Ruling(False)


class ApprovalUndecided(Exception):
    """Whether a call needs approval could not be told (an engine fault, a missing argument, the deadline): deny it."""


class PolicyEngine:
    """Answers whether a principal may perform an action (``call``, ``list``) on a tool.

    ``call`` may depend on the arguments, through conditions in the rules.
    ``list`` asks whether some call to the tool could be allowed, whatever its
    arguments: ``tools/list`` shows a tool exactly then.
    """

    def __init__(self, config: Config, *, deadline_s: float = 1.0) -> None:
        self.model_path, self.policy_path = config.model_path, config.policy_path
        try:
            model = casbin_internals.new_model(str(config.model_path))
            for section in ("r", "p", "e", "m"):
                if section not in casbin_internals.sections(model):
                    raise ConfigError(config.model_path, f"model.conf has no [{_SECTIONS[section]}] section")
            self.lines = read_policy(config.policy_path, model)
            refuse_reserved_roles(config, self.lines)
            enforcer = casbin.Enforcer(model, LinesAdapter(self.lines))
            self._matcher = Matcher(enforcer, config.model_path)
        except ConfigError:
            raise
        except Exception as exc:  # casbin raises bare exceptions of many kinds for bad files
            raise ConfigError(config.model_path, f"cannot load the Casbin model and policy: {exc}") from None
        self._line_of = {rule.values: rule for rule in reversed(self.lines) if rule.key == "p"}
        self._compile_conditions()
        self._spec_approvals = spec_approvals(config)
        self._deadline_s = deadline_s
        self._lock = threading.Lock()
        self._decisions: dict[_Key, Ruling] = {}
        self._plans: dict[_Key, Plan] = {}
        self._by_arguments: dict[_ArgumentsKey, Ruling] = {}
        #: One Ruling per (decision, rule): the caches share them instead of holding one per key.
        self._rulings: dict[tuple[bool, str | None], Ruling] = {}
        self._approvals: dict[_ArgumentsKey, Approval | None] = {}

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    def cache_info(self) -> dict[str, int]:
        """How many entries each cache holds: plans, decisions, and decisions that depend on arguments."""
        return {
            "plans": len(self._plans),
            "decisions": len(self._decisions),
            "argument_decisions": len(self._by_arguments),
        }

    def allows(self, principal: Principal, tool: str, action: str, arguments: Mapping[str, Any] | None = None) -> bool:
        """Whether ``principal`` may ``action`` the ``tool``; ``arguments`` are the call's (``None``: none)."""
        return self.ruling(principal, tool, action, arguments).allowed

    def ruling(
        self, principal: Principal, tool: str, action: str, arguments: Mapping[str, Any] | None = None
    ) -> Ruling:
        """The decision :meth:`allows` makes, with the rule that made it; as cheap (one cache lookup when warm)."""
        try:
            key = (principal.subject, principal.tenant, principal.roles, tool, action)
            decision = self._decisions.get(key)
            if decision is not None:
                return decision
            plan = self._plans.get(key)
            if plan is not None and plan.depends_on_arguments:
                decision = self._by_arguments.get((key, plan.names, frozen_values(arguments or {}, plan.names)))
                if decision is not None:
                    return decision
            with self._lock:
                return self._decide(key, principal, tool, action, arguments or {})
        except Exception:  # decide() turns evaluation errors into denials; this is for the engine's own
            log.exception("policy engine fault for %s on %s; denying", principal.subject, tool)
            return _DENIED

    def could(self, principal: Principal, tool: str, action: str) -> bool:
        """Whether some request to ``action`` the ``tool`` could be allowed, whatever its arguments.

        ``list``'s question, for any action: whether an approver may approve some call to a tool.
        """
        if action in (CALL, LIST):
            return self.allows(principal, tool, LIST)
        key = (principal.subject, principal.tenant, principal.roles, tool, action)
        try:
            with self._lock:
                return could_allow(self._matcher, self._plan(key, principal, tool)).allowed
        except Exception:
            log.exception("policy engine fault for %s on %s; denying", principal.subject, tool)
            return False

    def approval(self, principal: Principal, tool: str, arguments: Mapping[str, Any]) -> Approval | None:
        """Why this call, which the policy allows, must wait for a human first; None when it need not.

        Raises :class:`ApprovalUndecided` when that cannot be told: the call must then be refused.
        """
        spec = self._spec_approvals.get(tool)
        if spec is not None:
            return spec
        key = (principal.subject, principal.tenant, principal.roles, tool, CALL)
        plan = self._plans.get(key)
        if plan is not None:
            if not plan.approvals:
                return None
            cached_key = (key, plan.approval_names, frozen_values(arguments, plan.approval_names))
            if cached_key in self._approvals:
                return self._approvals[cached_key]
        try:
            with self._lock:
                return self._approval(key, principal, tool, arguments)
        except ApprovalUndecided:
            raise
        except Timeout:
            log.warning("policy engine timed out asking approve rules for %s on %s; denying", principal.subject, tool)
            raise ApprovalUndecided() from None
        except Exception:
            log.exception("policy engine fault asking approve rules for %s on %s; denying", principal.subject, tool)
            raise ApprovalUndecided() from None

    def explain(
        self, principal: Principal, tool: str, action: str = CALL, arguments: Mapping[str, Any] | None = None
    ) -> Decision:
        """The decision :meth:`allows` makes, with the rule that made it and the rules considered."""
        key = (principal.subject, principal.tenant, principal.roles, tool, action)
        with self._lock:
            try:
                plan = self._plan(key, principal, tool)
                if action == LIST:
                    request = _request(principal, tool, CALL, Arguments(None))
                    return explained(self._matcher, could_allow(self._matcher, plan), request, self._line, listing=True)
                request = _request(principal, tool, action, Arguments(arguments or {}))
                outcome = decide(self._matcher, plan, request, self._deadline())
                decision = explained(self._matcher, outcome, request, self._line, listing=False)
                if not decision.allowed or action != CALL:
                    return decision
                try:
                    approval = self._spec_approvals.get(tool) or self._approval(key, principal, tool, arguments or {})
                except ApprovalUndecided as exc:
                    return Decision(False, f"denied: an approve rule could not be evaluated: {exc}", None, (), None)
                return replace(decision, approval=approval)
            except Timeout:
                return Decision(False, f"denied: the policy engine did not decide within {self._deadline_s} s")
            except Exception as exc:
                log.exception("policy engine fault explaining %s on %s; denying", principal.subject, tool)
                return Decision(False, f"denied: the policy engine failed: {exc!r}")

    # The cold path: always under the lock.

    def _decide(self, key: _Key, principal: Principal, tool: str, action: str, arguments: Mapping[str, Any]) -> Ruling:
        try:
            plan = self._plan(key, principal, tool)
            if action == LIST:
                outcome = could_allow(self._matcher, plan)
            elif plan.depends_on_arguments:
                return self._decide_on_arguments(key, plan, principal, tool, action, arguments)
            else:
                outcome = decide(
                    self._matcher, plan, _request(principal, tool, action, Arguments(None)), self._deadline()
                )
        except Timeout:
            log.warning("policy engine timed out deciding %s on %s; denying", principal.subject, tool)
            return _DENIED
        _log_error(outcome, principal, tool)
        ruling = self._ruling_of(outcome)
        _remember(self._decisions, key, ruling)
        return ruling

    def _decide_on_arguments(
        self, key: _Key, plan: Plan, principal: Principal, tool: str, action: str, arguments: Mapping[str, Any]
    ) -> Ruling:
        values = Arguments(arguments)
        outcome = decide(self._matcher, plan, _request(principal, tool, action, values), self._deadline())
        _log_error(outcome, principal, tool)
        # Learn the names this decision read, so that the cache key covers every value it depended on.
        read = set(names_read(values))
        if not read <= set(plan.names):
            plan.names = tuple(sorted(read | set(plan.names)))
        ruling = self._ruling_of(outcome)
        _remember(self._by_arguments, (key, plan.names, frozen_values(arguments, plan.names)), ruling)
        return ruling

    def _ruling_of(self, outcome: Outcome) -> Ruling:
        """The ruling for ``outcome``, naming its deciding rule as explain does (none when an error denied)."""
        line = self._line(outcome.rule) if outcome.error is None else None
        found = (outcome.allowed, line.where if line is not None else None)
        ruling = self._rulings.get(found)
        if ruling is None:
            ruling = self._rulings[found] = Ruling(*found)
        return ruling

    def _approval(self, key: _Key, principal: Principal, tool: str, arguments: Mapping[str, Any]) -> Approval | None:
        plan = self._plan(key, principal, tool)
        if not plan.approvals:
            return None
        values = Arguments(arguments)
        index, error = approval_rule(self._matcher, plan, _request(principal, tool, CALL, values), self._deadline())
        if error is not None:
            _log_error(Outcome(False, None, error), principal, tool)
            why = str(error) if isinstance(error, MissingArgument) else repr(error)
            raise ApprovalUndecided(why)
        rule = self._line(index)
        found = None
        if index is not None:
            found = rule_approval(rule) if rule else Approval(self.policy_path.name, "an approve rule matches the call")
        read = set(names_read(values))
        if not read <= set(plan.approval_names):
            plan.approval_names = tuple(sorted(read | set(plan.approval_names)))
        _remember(self._approvals, (key, plan.approval_names, frozen_values(arguments, plan.approval_names)), found)
        return found

    def _plan(self, key: _Key, principal: Principal, tool: str) -> Plan:
        """The rules that can matter to ``key``; a ``list`` question shares the plan of ``call``."""
        action = CALL if key[4] == LIST else key[4]
        plan_key = (*key[:4], action)
        plan = self._plans.get(plan_key)
        if plan is None:
            plan = make_plan(self._matcher, _request(principal, tool, action, Arguments(None)), self._deadline())
            _remember(self._plans, plan_key, plan)
        return plan

    def _deadline(self) -> float:
        return time.perf_counter() + self._deadline_s

    def _line(self, index: int | None) -> PolicyLine | None:
        if index is None or self._matcher.empty:
            return None
        return self._line_of.get(tuple(self._matcher.rules[index]))

    def _compile_conditions(self) -> None:
        """Parse every rule's condition now, so a broken one stops the load with its line."""
        if not self._matcher.uses_eval or self._matcher.empty:
            return
        for index in range(self._matcher.size):
            try:
                self._matcher.expression(index)
            except Exception as exc:
                rule = self._line(index)
                line = rule.line if rule else None
                raise ConfigError(self.policy_path, f"the rule's condition does not parse: {exc}", line=line) from None


_SECTIONS = {"r": "request_definition", "p": "policy_definition", "e": "policy_effect", "m": "matchers"}


def _request(principal: Principal, tool: str, action: str, arguments: Arguments) -> Request:
    return Request(principal.subject, principal.tenant, principal.roles, tool, action, arguments)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _log_error(outcome: Outcome, principal: Principal, tool: str) -> None:
    if outcome.error is None:
        return
    if isinstance(outcome.error, MissingArgument):
        log.info("policy denies %s on %s: %s", principal.subject, tool, outcome.error)
    else:
        log.error("policy engine fault for %s on %s; denying: %r", principal.subject, tool, outcome.error)
