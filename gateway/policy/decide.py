"""Casbin's enforce loop, run over only the rules that can matter to one request.

For a request (caller, roles, tenant, tool, action) the engine first sorts the
rules once, with the arguments unknown — the *plan*: a rule whose matcher is
false whatever the arguments is dropped; one that matches is kept; one whose
outcome depends on the arguments (its condition reads them) is kept and marked.
Deciding a call then evaluates only the rules kept, in policy order, with the
model's own effector. That is the decision casbin's ``enforce_ex`` gives over
the whole policy — a dropped rule only ever adds an "indeterminate" effect,
which no effector acts on — and the deciding rule is the one it would name.

A ``list`` question ("could some call to this tool be allowed?") is answered
from the plan alone: a rule that depends on the arguments counts as matching
if it allows and as not matching if it denies.

Rules whose effect is ``approve`` (matcher.APPROVE) are kept apart, in the
plan's ``approvals``: the effector never sees them, so they neither allow nor
deny. :func:`approval_rule` asks them, for a call the other rules allowed,
whether a human must approve it first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from gateway.policy.arguments import ArgumentsUnknown
from gateway.policy.casbin_internals import Effector, effect_to_bool
from gateway.policy.matcher import Matcher, Request

MATCHED, DEPENDS, FAILED = "matched", "depends", "failed"

#: How many rules are evaluated between two looks at the clock.
_CLOCK_EVERY = 256


class Timeout(Exception):
    """The engine did not decide before its deadline."""


@dataclass(slots=True)
class Plan:
    """The rules that can matter to one request whatever its arguments, with how each fared without them."""

    rules: tuple[int, ...]
    outcomes: tuple[str, ...]
    #: The first error a kept rule raised without the arguments (such a rule fails every call).
    failure: Exception | None
    #: The argument names that decisions under this plan have read so far (the engine's cache key).
    names: tuple[str, ...] = ()
    #: The ``approve`` rules that can match, with how each fared without the arguments, in policy order.
    approvals: tuple[int, ...] = ()
    approval_outcomes: tuple[str, ...] = ()
    #: The argument names approval questions under this plan have read so far (their cache key).
    approval_names: tuple[str, ...] = ()

    @property
    def depends_on_arguments(self) -> bool:
        return DEPENDS in self.outcomes


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision, the index of the rule that made it (``None``: no rule did), and the error that denied it."""

    allowed: bool
    rule: int | None
    error: Exception | None = None
    #: Rules the plan kept that did not match this call (what ``explain`` shows as considered).
    unmatched: tuple[int, ...] = ()


def make_plan(matcher: Matcher, request: Request, deadline: float) -> Plan:
    """Sort every rule for ``request``, whose arguments must be unknown; raises Timeout past ``deadline``."""
    rules: list[int] = []
    outcomes: list[str] = []
    approvals: list[int] = []
    approval_outcomes: list[str] = []
    failure: Exception | None = None
    with matcher.serving(request) as parameters:
        for index in range(matcher.size):
            if index % _CLOCK_EVERY == 0 and time.perf_counter() > deadline:
                raise Timeout()
            approves = matcher.approves[index]
            try:
                matched = matcher.matches(index, parameters)
            except ArgumentsUnknown:
                outcome = DEPENDS
            except Exception as exc:
                outcome = FAILED
                if not approves:  # an approve rule that fails denies the calls it is asked about, not all
                    failure = failure or exc
            else:
                if not matched:
                    continue
                outcome = MATCHED
            (approvals if approves else rules).append(index)
            (approval_outcomes if approves else outcomes).append(outcome)
    return Plan(tuple(rules), tuple(outcomes), failure, (), tuple(approvals), tuple(approval_outcomes))


def decide(matcher: Matcher, plan: Plan, request: Request, deadline: float) -> Outcome:
    """The decision for ``request`` (arguments known) over the plan's rules; never raises but Timeout."""
    effects: set[int] = set()
    rule: int | None = None
    unmatched: list[int] = []
    effector = matcher.effector
    try:
        with matcher.serving(request) as parameters:
            for count, index in enumerate(plan.rules):
                if count % _CLOCK_EVERY == _CLOCK_EVERY - 1 and time.perf_counter() > deadline:
                    raise Timeout()
                if not matcher.matches(index, parameters):
                    unmatched.append(index)
                    continue
                effects.add(matcher.effects[index])
                rule = index
                if effector.intermediate_effect(effects) != Effector.INDETERMINATE:
                    break
        return Outcome(effect_to_bool(effector.final_effect(effects)), rule, None, tuple(unmatched))
    except Timeout:
        raise
    except Exception as exc:  # any engine error denies
        return Outcome(False, None, exc)


def approval_rule(
    matcher: Matcher, plan: Plan, request: Request, deadline: float
) -> tuple[int | None, Exception | None]:
    """The first approve rule of the plan that matches ``request`` (arguments known), or None; and the error
    that stopped the evaluation (the call must then be denied). Raises Timeout past ``deadline``."""
    try:
        with matcher.serving(request) as parameters:
            for count, (index, outcome) in enumerate(zip(plan.approvals, plan.approval_outcomes, strict=True)):
                if count % _CLOCK_EVERY == _CLOCK_EVERY - 1 and time.perf_counter() > deadline:
                    raise Timeout()
                if outcome == MATCHED or matcher.matches(index, parameters):
                    return index, None
        return None, None
    except Timeout:
        raise
    except Exception as exc:  # a condition that cannot be evaluated (a missing argument) denies
        return None, exc


def could_allow(matcher: Matcher, plan: Plan) -> Outcome:
    """Whether some call could be allowed, from the plan alone (the ``list`` action)."""
    if plan.failure is not None:
        return Outcome(False, None, plan.failure)
    effects: set[int] = set()
    rule: int | None = None
    effector = matcher.effector
    for index, outcome in zip(plan.rules, plan.outcomes, strict=True):
        effect = matcher.effects[index]
        if outcome == DEPENDS and effect != Effector.ALLOW:
            continue  # a conditional deny does not deny every call
        effects.add(effect)
        rule = index
        if effector.intermediate_effect(effects) != Effector.INDETERMINATE:
            break
    try:
        return Outcome(effect_to_bool(effector.final_effect(effects)), rule)
    except Exception as exc:
        return Outcome(False, None, exc)


#: How a deciding rule matched the caller (see :func:`how_matched`).
AS_SUBJECT, THROUGH_ROLE, ANYONE = "subject", "role", "anyone"


def how_matched(matcher: Matcher, index: int, request: Request, *, listing: bool) -> tuple[str, str | None] | None:
    """Whether rule ``index`` matched ``request`` for ``ANYONE``, ``AS_SUBJECT``, or ``THROUGH_ROLE`` (which).

    Asked of the rule that decided, by ``explain``: the rule is evaluated again
    for the caller stripped of everything (then it holds for anyone), of its
    roles (then it holds for the subject, directly or through ``g`` lines that
    name the subject), and for each role alone. None when none of these holds
    on its own.
    """
    if _holds(matcher, index, replace(request, subject="", roles=()), listing):
        return ANYONE, None
    if _holds(matcher, index, replace(request, roles=()), listing):
        return AS_SUBJECT, None
    for role in request.roles:
        if _holds(matcher, index, replace(request, roles=(role,)), listing):
            return THROUGH_ROLE, role
    return None


def _holds(matcher: Matcher, index: int, request: Request, listing: bool) -> bool:
    with matcher.serving(request) as parameters:
        try:
            return matcher.matches(index, parameters)
        except ArgumentsUnknown:  # a list question: the rule decided because some call could match it
            return listing
        except Exception:
            return False
