"""The approval stage: a call policy marks waits for a human, and runs once, exactly as approved.

The stage runs on its own over a real desk: the shipped policy (a finance refund over 200 waits),
the memory store, a real audit writer. tests/approvals/ drives the same through a served gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.approvals.desk import ApprovalDesk
from gateway.audit import AuditWriter
from gateway.auth import Principal
from gateway.errors import ApprovalMismatch, ApprovalPending, ApprovalUsed
from gateway.pii.build import build_pii
from gateway.pipeline import CallMeta, ToolCall, compose
from gateway.policy import PolicyEngine
from gateway.stages import Approval
from gateway.store import MemoryStore
from tests.stages.calls import Recorder, shipped, tool_call

FINANCE = Principal("finance-bot", "acme", ("finance-agent",), method="api_key")
APPROVER = Principal("finance-lead", "acme", ("finance-approver",), method="api_key")
REFUND = "billing.issue_refund"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[ApprovalDesk]:
    config = shipped(tmp_path / "audit")
    audit = AuditWriter(tmp_path / "audit", durability="write")
    await audit.start()
    try:
        yield ApprovalDesk(config, PolicyEngine(config), MemoryStore().approvals, audit, build_pii(config))
    finally:
        await audit.close()


def refund(amount: int, approval_id: str | None = None) -> ToolCall:
    arguments: dict[str, Any] = {"customer_id": "C1001", "amount": amount, "currency": "EUR"}
    return tool_call(REFUND, arguments, principal=FINANCE, meta=CallMeta(approval_id=approval_id))


async def parked(desk: ApprovalDesk, call: ToolCall, after: Recorder) -> str:
    """Run ``call`` through the stage, which must park it; the id of its request."""
    with pytest.raises(ApprovalPending) as caught:
        await compose([Approval(desk)], after)(call)
    approval_id: str = caught.value.data["approval_id"]
    return approval_id


async def approve(desk: ApprovalDesk, approval_id: str) -> None:
    await desk.decide(APPROVER, approval_id, approve=True, reason=None, request_id="r-approve")


async def test_a_call_that_needs_no_approval_runs_at_once(desk: ApprovalDesk) -> None:
    after = Recorder()
    call = refund(100)
    assert await compose([Approval(desk)], after)(call) is after.result
    assert after.calls == [call] and "approval_id" not in call.notes


async def test_a_call_that_needs_approval_is_parked_and_reaches_no_backend(desk: ApprovalDesk) -> None:
    after = Recorder()
    call = refund(450)
    with pytest.raises(ApprovalPending) as caught:
        await compose([Approval(desk)], after)(call)
    assert set(caught.value.data) == {"approval_id", "expires_at"}
    assert call.notes["approval_id"] == caught.value.data["approval_id"], "the call's record links to its request"
    assert after.calls == []


async def test_the_same_call_repeated_without_its_id_finds_the_same_request(desk: ApprovalDesk) -> None:
    after = Recorder()
    assert await parked(desk, refund(450), after) == await parked(desk, refund(450), after)


async def test_a_call_claiming_a_request_still_waiting_is_told_it_still_waits(desk: ApprovalDesk) -> None:
    after = Recorder()
    approval_id = await parked(desk, refund(450), after)
    assert await parked(desk, refund(450, approval_id), after) == approval_id
    assert after.calls == []


async def test_an_approved_call_runs_once_on_its_id(desk: ApprovalDesk) -> None:
    after = Recorder()
    approval_id = await parked(desk, refund(450), after)
    await approve(desk, approval_id)
    approved = refund(450, approval_id)
    assert await compose([Approval(desk)], after)(approved) is after.result
    assert after.calls == [approved]
    with pytest.raises(ApprovalUsed):
        await compose([Approval(desk)], after)(refund(450, approval_id))
    assert len(after.calls) == 1


async def test_an_approval_runs_no_other_call(desk: ApprovalDesk) -> None:
    after = Recorder()
    approval_id = await parked(desk, refund(450), after)
    await approve(desk, approval_id)
    with pytest.raises(ApprovalMismatch):
        await compose([Approval(desk)], after)(refund(499, approval_id))
    assert after.calls == []


async def test_an_id_is_checked_even_on_a_call_that_would_need_no_approval(desk: ApprovalDesk) -> None:
    after = Recorder()
    with pytest.raises(ApprovalMismatch):
        await compose([Approval(desk)], after)(refund(100, "not-a-request"))
    assert after.calls == []
