"""The approval desk of one configuration: parks calls, claims approvals, and lets approvers decide.

The approval stage asks it two things. A call without an approval id that needs one is *parked*: a
pending request is created (or the principal's still-pending one for the same call is found again, so
an agent repeating its call adds nothing), the trail gets ``approval/requested``, the webhook is told,
and the call is refused with -31202. A call with an approval id *claims* it: the id must name a request
of the caller's, made for exactly this call under this configuration (else ``approval.mismatch``); a
pending one answers -31202 again, a denied one ``approval.denied``, an expired one ``approval.expired``,
one already executed ``approval.used``; an approved one is spent in one atomic step of the store, so
that of any number of repeats, in any number of gateway processes, one runs. The trail gets
``approval/executed`` before the call goes on. The approval is spent whatever happens after (at most
once: a backend that fails does not get the call a second time on the same approval).

Approvers (a role with the ``approve`` action on the tool in policy.csv, within their tenant) list,
show and decide requests; the requester never decides its own, nor does the person it acts for
(``on_behalf_of``). A decision is one atomic step too (two approvers racing: one decides, the other is
told the request is no longer pending) and the trail gets ``approval/decided``. The approver's reason
is kept with the request, never written to the trail: it is free text and may name people.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from gateway.approvals.binding import call_digest, new_id
from gateway.approvals.notify import Notifier
from gateway.approvals.record import ApprovalDecision, ApprovalRequest, ClaimOutcome, TooManyPending, iso
from gateway.approvals.view import ApprovalView
from gateway.audit import AuditRecord, AuditWriter
from gateway.auth import Principal
from gateway.config import Config
from gateway.errors import (
    APPROVAL_APPROVED,
    OK,
    ApprovalConflict,
    ApprovalDenied,
    ApprovalExpired,
    ApprovalMismatch,
    ApprovalNotFound,
    ApprovalPending,
    ApprovalUsed,
    GatewayError,
    PolicyDenied,
    RateLimited,
    SelfApproval,
)
from gateway.pii.build import PiiRuntime
from gateway.pipeline import ToolCall
from gateway.policy import PolicyEngine
from gateway.policy.approval import APPROVE_ACTION, Approval
from gateway.policy.engine import ApprovalUndecided
from gateway.store import ApprovalStore

#: Reasons of ``approval/decided`` and ``approval/executed`` records (the call's own are in gateway.errors).
APPROVED, DENIED, EXECUTED = APPROVAL_APPROVED, ApprovalDenied.reason, OK
#: Characters of an approver's reason kept at most.
MAX_REASON = 500

_REFUSALS: dict[ClaimOutcome, type[GatewayError]] = {
    "unknown": ApprovalMismatch,
    "mismatch": ApprovalMismatch,
    "denied": ApprovalDenied,
    "expired": ApprovalExpired,
    "executed": ApprovalUsed,
}


class ApprovalDesk:
    def __init__(
        self,
        config: Config,
        policy: PolicyEngine,
        store: ApprovalStore,
        audit: AuditWriter,
        pii: PiiRuntime,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = config.gateway.approvals
        self._version = config.version
        self._tools = tuple(config.tools)
        self._policy = policy
        self._store = store
        self._audit = audit
        self._view = ApprovalView(pii)
        self._notifier = notifier
        self._clock = clock
        self._ttl_s = settings.ttl_s
        self._keep_s = settings.keep_s
        self._max_pending = settings.max_pending_per_principal

    # The approval stage's side.

    def requirement(self, call: ToolCall) -> Approval | None:
        """Why ``call`` (which the policy allows) waits for a human; None when it need not."""
        try:
            return self._policy.approval(call.principal, call.tool_name, call.arguments)
        except ApprovalUndecided:
            raise PolicyDenied() from None

    async def park(self, call: ToolCall, approval: Approval) -> ApprovalRequest:
        """The pending request for ``call``: a new one (audited, notified) or the caller's one for the same call."""
        principal, now = call.principal, self._clock()
        request = ApprovalRequest(
            id=new_id(),
            tool=call.tool_name,
            subject=principal.subject,
            tenant=principal.tenant,
            roles=principal.roles,
            digest=self._digest(call),
            config_version=self._version,
            created_at=now,
            expires_at=now + self._ttl_s,
            required_by=approval.where,
            request_id=call.request_id,
            on_behalf_of=principal.on_behalf_of,
            arguments=dict(call.arguments),
        )
        try:
            stored = await self._store.create(request, now=now, keep_s=self._keep_s, max_pending=self._max_pending)
        except TooManyPending as exc:
            retry = math.ceil(max(exc.retry_after_s, 0.001) * 1000) / 1000
            raise RateLimited("Too many calls waiting for approval", data={"retry_after_s": retry}) from None
        if stored is request:
            record = self._record("approval/requested", stored, principal, call, ApprovalPending.reason, "refused")
            await self._audit.write(record)
            if self._notifier is not None:
                self._notifier.requested(stored)
        return stored

    async def claim(self, call: ToolCall, approval_id: str) -> ApprovalRequest:
        """Spend the approval ``call`` claims, or raise why it may not run on it."""
        principal = call.principal
        request = await self._store.get(approval_id)
        if request is None or (request.subject, request.tenant) != (principal.subject, principal.tenant):
            raise ApprovalMismatch()
        digest = self._digest(call)
        outcome = await self._store.claim(approval_id, digest, now=self._clock())
        if outcome == "pending":
            raise pending(request)
        if outcome != "claimed":
            raise _REFUSALS[outcome]()
        await self._audit.write(self._record("approval/executed", request, principal, call, EXECUTED, "allowed"))
        return request

    # The approvers' side (gateway.approvals.http).

    def is_approver(self, principal: Principal) -> bool:
        """Whether ``principal`` may approve some call to some tool (else /admin/approvals is closed to it)."""
        return any(self._policy.could(principal, tool, APPROVE_ACTION) for tool in self._tools)

    async def listing(self, approver: Principal, *, everything: bool = False) -> list[dict[str, Any]]:
        """The requests of the approver's tenant it may decide: pending ones, or (``everything``) all remembered."""
        now = self._clock()
        shown = []
        for request in await self._store.for_tenant(approver.tenant, now=now):
            if (everything or request.status(now) == "pending") and self._may_decide(approver, request):
                shown.append(await self._view.to_json(request, approver, now))
        return shown

    async def show(self, approver: Principal, approval_id: str) -> dict[str, Any]:
        request = await self._visible(approver, approval_id)
        return await self._view.to_json(request, approver, self._clock())

    async def decide(
        self, approver: Principal, approval_id: str, *, approve: bool, reason: str | None, request_id: str
    ) -> dict[str, Any]:
        """Approve or deny a pending request; raises SelfApproval, PolicyDenied, ApprovalNotFound, ApprovalConflict."""
        request = await self._visible(approver, approval_id)
        now = self._clock()
        if request.status(now) != "pending":
            raise ApprovalConflict(data={"status": request.status(now)})
        if reason is not None:
            reason = reason.strip()[:MAX_REASON] or None
        decided = await self._store.decide(request, ApprovalDecision(approve, approver.subject, now, reason), now=now)
        if decided is None:  # another approver was first, or it expired a moment ago
            current = await self._store.get(approval_id)
            raise ApprovalConflict(data={"status": current.status(now) if current else "expired"})
        record = AuditRecord.approval(
            "approval/decided",
            approval_id=request.id,
            request_id=request_id,
            transport="admin",
            principal=approver,
            tool=request.tool,
            args_digest=self._audit.digest(request.arguments or {}),
            # The trail's decision words: the human allowed the call, or refused it; the reason says it was a human.
            decision="allowed" if approve else "refused",
            reason=APPROVED if approve else DENIED,
            config_version=self._version,
        )
        await self._audit.write(record)
        return await self._view.to_json(decided, approver, now)

    async def _visible(self, approver: Principal, approval_id: str) -> ApprovalRequest:
        """The request, if it is in the approver's tenant and the approver may decide it (never its own)."""
        request = await self._store.get(approval_id)
        if request is None or request.tenant != approver.tenant:
            raise ApprovalNotFound()  # another tenant's request is not found: nothing is said of it
        if approver.subject in (request.subject, request.on_behalf_of):
            raise SelfApproval()
        if not self._may_decide(approver, request):
            raise PolicyDenied(f"{approver.subject} may not approve this call to {request.tool}")
        return request

    def _may_decide(self, approver: Principal, request: ApprovalRequest) -> bool:
        if approver.subject in (request.subject, request.on_behalf_of):
            return False
        if request.arguments is not None:  # asked with the call's arguments, so a condition can bound it
            return self._policy.allows(approver, request.tool, APPROVE_ACTION, request.arguments)
        return self._policy.could(approver, request.tool, APPROVE_ACTION)

    def _digest(self, call: ToolCall) -> str:
        principal = call.principal
        return call_digest(call.tool_name, call.arguments, principal.subject, principal.tenant, self._version)

    def _record(
        self, event: Any, request: ApprovalRequest, principal: Principal, call: ToolCall, reason: str, decision: str
    ) -> AuditRecord:
        return AuditRecord.approval(
            event,
            approval_id=request.id,
            request_id=call.request_id,
            transport=call.transport,
            principal=principal,
            tool=call.tool_name,
            args_digest=self._audit.digest(call.arguments),
            decision=decision,
            reason=reason,
            config_version=self._version,
            conversation_id=call.meta.conversation_id,
            source=call.meta.source,
        )


def pending(request: ApprovalRequest) -> ApprovalPending:
    """The -31202 refusal for a request still waiting: its id and expiry."""
    return ApprovalPending(data={"approval_id": request.id, "expires_at": iso(request.expires_at)})
