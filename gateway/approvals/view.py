"""A request as one approver may see it: the arguments as the PII rules for the approver's roles allow.

The approver is shown what the agent sent, scrubbed with the plan the configuration gives the
approver's roles for the tool's arguments (gateway.pii.rules), so an approver whose role may see email
addresses sees them and one whose role may not sees ``<EMAIL_ADDRESS>``. A type whose action is
``block`` is redacted here: the approver must be able to judge the call, and never sees that type.
Arguments too large to scan within ``pii.max_text_chars`` are withheld, never shown unscanned.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from gateway.approvals.record import ApprovalRequest, iso
from gateway.auth import Principal
from gateway.config.model import PiiAction
from gateway.pii.build import PiiRuntime
from gateway.pii.scrubber import OverBudget, rough_size

#: Arguments larger than this are scrubbed in a worker thread, as the scrub stage does.
_INLINE_CHARS = 4096


class ApprovalView:
    def __init__(self, pii: PiiRuntime) -> None:
        self._pii = pii

    async def to_json(self, request: ApprovalRequest, viewer: Principal, now: float) -> dict[str, Any]:
        arguments, withheld = await self._arguments(request, viewer)
        decision = request.decision
        return {
            "approval_id": request.id,
            "status": request.status(now),
            "tool": request.tool,
            "subject": request.subject,
            "tenant": request.tenant,
            "roles": list(request.roles),
            "on_behalf_of": request.on_behalf_of,
            "created_at": iso(request.created_at),
            "expires_at": iso(request.expires_at),
            "expires_in_s": max(0, round(request.expires_at - now)),
            "required_by": request.required_by,
            "config_version": request.config_version,
            "arguments": arguments,
            "arguments_withheld": withheld,
            "decision": None
            if decision is None
            else {
                "decision": "approved" if decision.approved else "denied",
                "by": decision.by,
                "at": iso(decision.at),
                "reason": decision.reason,
            },
            "executed_at": None if request.executed_at is None else iso(request.executed_at),
        }

    async def _arguments(self, request: ApprovalRequest, viewer: Principal) -> tuple[dict[str, Any] | None, str | None]:
        """The arguments as ``viewer`` may see them, or None and why not."""
        if request.arguments is None:
            return None, "dropped once decided" if request.decision is not None else None
        try:
            plan = self._pii.rules.plan(request.tool, viewer.roles, "arguments")
        except KeyError:  # the tool left the configuration since the request was made
            return None, "the tool is no longer configured"
        if not plan.active:
            return request.arguments, None
        actions: dict[str, PiiAction] = {
            entity: "redact" if action == "block" else action for entity, action in plan.actions.items()
        }
        plan = replace(plan, actions=actions)
        scrub = self._pii.scrubber.arguments
        try:
            if rough_size(request.arguments, _INLINE_CHARS) <= _INLINE_CHARS:
                scrubbed, _ = scrub(request.arguments, plan, viewer.tenant)
            else:
                scrubbed, _ = await asyncio.to_thread(scrub, request.arguments, plan, viewer.tenant)
        except OverBudget:
            return None, "too large to scan for personal data"
        return scrubbed, None
