"""Calls that policy or the tool spec marks wait for a human; an approved call runs once, exactly as approved.

A call without ``_meta["callgate/approval_id"]`` that needs approval (gateway.policy.approval) is parked:
refused with -31202 ``approval.pending``, ``data.approval_id`` and ``data.expires_at``. The agent repeats
the same call with that id; it is refused the same way while the request waits, and runs once after an
approver approves it (gateway.approvals.desk has the rules, the store makes the claim atomic). A call that
carries an approval id runs only by claiming it, whether or not it would need one today.

It sits after the rate limit, so a parked call still spends its allowance (an agent polling for its
approval is throttled like any other caller), and before scrubbing: the human approves the call as the
agent sent it, and the digest that binds the approval is taken over those very arguments.
"""

from __future__ import annotations

from gateway.approvals.desk import ApprovalDesk, pending
from gateway.pipeline import Handler, ToolCall, ToolResult


class Approval:
    def __init__(self, desk: ApprovalDesk) -> None:
        self._desk = desk

    async def __call__(self, call: ToolCall, call_next: Handler) -> ToolResult:
        approval_id = call.meta.approval_id
        if approval_id is not None:
            await self._desk.claim(call, approval_id)
            return await call_next(call)
        approval = self._desk.requirement(call)
        if approval is None:
            return await call_next(call)
        request = await self._desk.park(call, approval)
        # The call's own record links to the request it created (or found again).
        call.notes["approval_id"] = request.id
        raise pending(request)


__all__ = ["Approval"]
