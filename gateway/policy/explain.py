"""A decision with its reasons: what ``callgate policy explain|test`` print and ``/admin/policy/explain`` returns.

The engine (engine.py) decides; this module says why, in words a security
engineer reads: the rule that decided and how it matched the caller, the rules
considered, and whether a human must approve first. It also names the caller a
described request stands for (:func:`principal_for`): a configured API-key
subject, or roles and a tenant given outright.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.auth import Principal
from gateway.auth.principal import SUBJECT_PREFIX
from gateway.config import Config
from gateway.policy.approval import Approval
from gateway.policy.arguments import MissingArgument
from gateway.policy.casbin_internals import Effector
from gateway.policy.decide import ANYONE, AS_SUBJECT, Outcome, how_matched
from gateway.policy.matcher import Matcher, Request
from gateway.policy.rules import PolicyLine
from gateway.policy.subjects import is_reserved

#: The subject of a described caller that gives only roles.
ANONYMOUS = "policy-test"


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer with its reasons: what ``callgate policy explain`` prints and ``/admin/policy/explain`` returns."""

    allowed: bool
    #: One sentence for people.
    reason: str
    #: The rule that decided (``None``: no rule did, for example deny by default).
    rule: PolicyLine | None = None
    #: Rules that apply to this caller and tool but did not match this call (their condition was false).
    considered: tuple[PolicyLine, ...] = ()
    #: ``r.sub`` as the model saw it: ``user:NAME`` in a model with roles (subjects.py), else the subject.
    subject: str | None = None
    #: How the deciding rule matched the caller: ``"subject"`` (a rule for this very subject, directly
    #: or through g lines naming it), ``"role"`` (through :attr:`role`, one the caller holds), or
    #: ``"anyone"`` (the rule does not depend on the caller); None without a deciding rule.
    matched_as: str | None = None
    role: str | None = None
    #: Why an allowed call must first be approved by a human (None: it need not, or it is denied).
    approval: Approval | None = None

    @property
    def verdict(self) -> str:
        """``allow``, ``approve`` (allowed once a human approves) or ``deny``."""
        if not self.allowed:
            return "deny"
        return "approve" if self.approval is not None else "allow"

    def to_dict(self) -> dict[str, Any]:
        matched = {"as": self.matched_as, "role": self.role} if self.matched_as else None
        return {
            "decision": self.verdict,
            "approval": self.approval.to_dict() if self.approval else None,
            "reason": self.reason,
            "rule": _rule_dict(self.rule) if self.rule else None,
            "matched": matched,
            "subject": self.subject,
            "considered": [_rule_dict(rule) for rule in self.considered],
        }


def explained(
    matcher: Matcher,
    outcome: Outcome,
    request: Request,
    line: Callable[[int | None], PolicyLine | None],
    *,
    listing: bool,
) -> Decision:
    """``outcome`` (of ``request``) in words; ``line`` finds the policy line of a rule index."""
    rule = line(outcome.rule)
    considered = tuple(found for found in map(line, outcome.unmatched) if found is not None)
    subject = matcher.subject_of(request)
    if outcome.error is not None:
        why = str(outcome.error) if isinstance(outcome.error, MissingArgument) else repr(outcome.error)
        return Decision(False, f"denied: the policy engine failed: {why}", None, considered, subject)
    if rule is None or outcome.rule is None:
        if outcome.allowed:
            return Decision(True, "allowed: no rule denies it, and the model allows what no rule denies")
        return Decision(False, "denied: no rule allows it (deny by default)", None, considered, subject)
    how = how_matched(matcher, outcome.rule, request, listing=listing)
    matched_as, role = how or (None, None)
    where = rule.where + _how(matched_as, role, subject)
    if listing and outcome.allowed:
        reason, allowed = f"listed: a call could be allowed by {where}", True
    elif outcome.allowed:
        reason, allowed = f"allowed by {where}", True
    elif matcher.effects[outcome.rule] == Effector.DENY:
        reason, allowed = f"denied by {where}", False
    else:  # for example a priority model whose deciding rule has no allow or deny effect
        reason, allowed = f"denied: the model's effect denies, deciding on {where}", False
    return Decision(allowed, reason, rule, considered, subject, matched_as, role)


def principal_for(config: Config, subject: str | None, tenant: str | None, roles: list[str] | None) -> Principal:
    """The caller a test case or an explain request describes; raises ValueError with a message when it cannot tell.

    A configured API-key subject brings its tenant and roles; ``roles`` and
    ``tenant``, when given, replace them.
    """
    entries = [
        entry for entry in config.gateway.api_keys if entry.subject == subject and tenant in (None, entry.tenant)
    ]
    if roles is None:
        if not entries:
            raise ValueError(f"subject {subject!r} is not a configured principal: give its roles (and tenant)")
        roles = list(entries[0].roles)
    if tenant is None:
        if not entries:
            raise ValueError("give the tenant: the subject is not a configured principal")
        tenant = entries[0].tenant
    reserved = [role for role in roles if is_reserved(role)]
    if reserved:
        raise ValueError(
            f"role {reserved[0]!r} is spelled like a subject: role names may not start with {SUBJECT_PREFIX!r}"
        )
    return Principal(subject or ANONYMOUS, tenant, tuple(roles), method="policy-test")


def _how(matched_as: str | None, role: str | None, subject: str) -> str:
    if matched_as == ANYONE:
        return ", whoever calls"
    if matched_as == AS_SUBJECT:
        return f", as subject {subject}"
    if role is not None:
        return f", through role {role}"
    return ""


def _rule_dict(rule: PolicyLine) -> dict[str, Any]:
    return {"file": f"{rule.file.parent.name}/{rule.file.name}", "line": rule.line, "text": rule.text}
