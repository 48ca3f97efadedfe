"""A request for human approval and its decision, as the store keeps them.

A request is created *pending*, bound to one call by its digest (gateway.approvals.binding). An approver
makes it *approved* or *denied*; the approved call, repeated with the request's id, makes it *executed*,
once. A request not decided, or an approval not used, by ``expires_at`` is *expired* (a status computed
from the clock: nothing needs to run at that moment). The store remembers a request ``keep_s`` past its
expiry, so a late repeat is told why it is refused, then forgets it.

The arguments are kept only while the request is pending (an approver must see them); a decision drops
them. Times are seconds since the epoch (UTC): every gateway process judges expiry by the same wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

State = Literal["pending", "approved", "denied", "executed"]
#: A request's state, with ``expired`` for one pending or approved past its expiry.
Status = Literal["pending", "approved", "denied", "executed", "expired"]
#: What a claim found: ``claimed`` (the caller may run the call, and nobody else ever will), or why not.
ClaimOutcome = Literal["claimed", "unknown", "mismatch", "pending", "denied", "executed", "expired"]


class TooManyPending(Exception):
    """The principal already has its maximum of requests waiting; ``retry_after_s``: until the oldest expires."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many requests waiting; retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """An approver's answer: who, when, and an optional reason (free text, shown to approvers, never audited)."""

    approved: bool
    by: str
    at: float
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"approved": self.approved, "by": self.by, "at": self.at, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApprovalDecision:
        reason = data.get("reason")
        return cls(bool(data["approved"]), str(data["by"]), float(data["at"]), None if reason is None else str(reason))


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One call waiting for (or past) a human's decision."""

    id: str
    tool: str
    subject: str
    tenant: str
    roles: tuple[str, ...]
    #: Binds the request to the exact call: tool, arguments, subject, tenant, configuration version.
    digest: str
    config_version: str
    created_at: float
    expires_at: float
    #: Where the configuration says the call needs approval (``policies/policy.csv:38``).
    required_by: str
    #: The request id of the call that was parked, linking the request to that call's audit record.
    request_id: str
    on_behalf_of: str | None = None
    state: State = "pending"
    decision: ApprovalDecision | None = None
    executed_at: float | None = None
    #: The call's arguments while the request is pending; None once it is decided.
    arguments: dict[str, Any] | None = field(default=None, repr=False)

    def status(self, now: float) -> Status:
        if self.state in ("pending", "approved") and now >= self.expires_at:
            return "expired"
        return self.state

    def decided(self, decision: ApprovalDecision) -> ApprovalRequest:
        """This request with ``decision`` taken: approved or denied, its arguments dropped."""
        return replace(self, state="approved" if decision.approved else "denied", decision=decision, arguments=None)

    def executed(self, at: float) -> ApprovalRequest:
        return replace(self, state="executed", executed_at=at)

    def fixed_json(self) -> dict[str, Any]:
        """The parts that never change after creation, as JSON."""
        return {
            "id": self.id,
            "tool": self.tool,
            "subject": self.subject,
            "tenant": self.tenant,
            "roles": list(self.roles),
            "digest": self.digest,
            "config_version": self.config_version,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "required_by": self.required_by,
            "request_id": self.request_id,
            "on_behalf_of": self.on_behalf_of,
        }

    @classmethod
    def from_parts(
        cls,
        fixed: dict[str, Any],
        *,
        state: str,
        decision: dict[str, Any] | None,
        executed_at: float | None,
        arguments: dict[str, Any] | None,
    ) -> ApprovalRequest:
        """The request from its stored parts; raises KeyError, TypeError or ValueError when they are not callgate's."""
        if state not in ("pending", "approved", "denied", "executed"):
            raise ValueError(f"unknown approval state {state!r}")
        return cls(
            id=str(fixed["id"]),
            tool=str(fixed["tool"]),
            subject=str(fixed["subject"]),
            tenant=str(fixed["tenant"]),
            roles=tuple(str(role) for role in fixed["roles"]),
            digest=str(fixed["digest"]),
            config_version=str(fixed["config_version"]),
            created_at=float(fixed["created_at"]),
            expires_at=float(fixed["expires_at"]),
            required_by=str(fixed["required_by"]),
            request_id=str(fixed["request_id"]),
            on_behalf_of=None if fixed.get("on_behalf_of") is None else str(fixed["on_behalf_of"]),
            state=state,  # type: ignore[arg-type]  # checked above
            decision=None if decision is None else ApprovalDecision.from_json(decision),
            executed_at=executed_at,
            arguments=arguments,
        )


def iso(moment: float) -> str:
    """``2026-01-31T09:30:00Z``: an instant as ISO 8601 (RFC 3339) in UTC, to the second."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
