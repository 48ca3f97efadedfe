"""Which calls wait for a human: what the tool specs and gateway.yaml say, beside policy.csv's approve rules.

A call the policy allows must first be approved by a human when any of these holds:

- its tool spec says ``approval: required``;
- its tool's ``risk`` is listed in ``approvals.require_for_risk`` (gateway.yaml);
- an ``approve`` rule of policy.csv matches it (``p, finance-agent, acme, billing.issue_refund, call,
  approve, r.args.amount > 200``), for the caller, its tenant and its arguments, as any rule matches.

An approve rule never allows a call on its own: a call no allow rule allows is denied, whatever the
approve rules say, and a deny rule beats both. So an approve rule can only add a human to what is
already allowed, and a policy stays deny by default however approve rules are added or removed.

Who may decide is a rule too: the action ``approve`` on the tool (``p, finance-approver, acme,
billing.issue_refund, approve, allow``), asked with the waiting call's arguments, so a condition can
bound what an approver may approve. The requester never decides its own request (gateway.approvals).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import Config
from gateway.policy.rules import PolicyLine

#: The action an approver must be allowed on a tool to decide requests for it.
APPROVE_ACTION = "approve"


@dataclass(frozen=True, slots=True)
class Approval:
    """Why a call waits for a human: where the configuration says so, and in words."""

    #: ``policies/policy.csv:38``, ``tool_specs/billing.issue_refund.yaml`` or ``policies/gateway.yaml``.
    where: str
    why: str
    #: The approve rule, when one said so.
    rule: PolicyLine | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"where": self.where, "why": self.why, "rule": self.rule.text if self.rule else None}


def spec_approvals(config: Config) -> dict[str, Approval]:
    """The tools whose every call waits for a human, by their spec or by their risk, and why."""
    risks = config.gateway.approvals.require_for_risk
    found: dict[str, Approval] = {}
    for name, spec in config.tools.items():
        if spec.approval == "required":
            where = f"{spec.source.parent.name}/{spec.source.name}"
            found[name] = Approval(where, "the tool spec says approval: required")
        elif spec.risk in risks:
            found[name] = Approval("policies/gateway.yaml", f"risk {spec.risk} is in approvals.require_for_risk")
    return found


def rule_approval(rule: PolicyLine) -> Approval:
    return Approval(rule.where, "an approve rule matches the call", rule)
