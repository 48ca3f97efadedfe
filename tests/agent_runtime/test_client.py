"""The gateway client: conversation ids and approval ids in _meta, waits for passing refusals and approvals."""

from __future__ import annotations

import time

import pytest

from agent_runtime import GatewayClient, WaitPolicy
from agent_runtime.client import APPROVAL_META, CONVERSATION_META
from tests.agent_runtime.conftest import run_agent, tool_events
from tests.agent_runtime.standin import StandIn, pending, refused, result
from tests.conftest import RunningGateway

FAST = WaitPolicy(poll_s=0.02, max_approval_wait_s=30)
REFUND = {"customer_id": "C1001", "amount": 450, "currency": "EUR"}


async def test_every_list_and_call_carries_the_conversation_id(stand_in: StandIn) -> None:
    stand_in.answers["docs.search"] = [result({"results": []})]
    async with GatewayClient(stand_in.url, "key", conversation_id="conv-42") as client:
        await client.connect()
        await client.list_tools()
        await client.call_tool("docs.search", {"query": "x"})
        await client.call_tool_waiting("docs.search", {"query": "y"})

    assert [r["params"]["_meta"] for r in stand_in.requests] == [{CONVERSATION_META: "conv-42"}] * 3


async def test_without_a_conversation_id_no_meta_is_sent(stand_in: StandIn) -> None:
    stand_in.answers["docs.search"] = [result({"results": []})]
    async with GatewayClient(stand_in.url, "key") as client:
        await client.connect()
        await client.call_tool("docs.search", {"query": "x"})

    assert stand_in.requests == [
        {"method": "tools/call", "params": {"name": "docs.search", "arguments": {"query": "x"}}}
    ]


async def test_the_real_gateway_accepts_the_meta_it_does_not_know_yet(gateway: RunningGateway) -> None:
    async with GatewayClient(gateway.url, gateway.keys["support-agent"], conversation_id="conv-1") as client:
        await client.connect()
        names = {tool["name"] for tool in await client.list_tools()}
        outcome = await client.call_tool_waiting("crm.get_customer", {"customer_id": "C1001"})

    assert "crm.get_customer" in names
    assert outcome.ok and outcome.result is not None
    assert outcome.result["structuredContent"]["name"] == "Ada Lovelace"


async def test_a_pending_approval_is_polled_with_the_same_call_until_it_executes(stand_in: StandIn) -> None:
    stand_in.answers["billing.issue_refund"] = [pending("apr-7"), pending("apr-7"), result({"refund_id": "R1"})]
    async with GatewayClient(stand_in.url, "key", conversation_id="conv-9", waits=FAST) as client:
        await client.connect()
        outcome = await client.call_tool_waiting("billing.issue_refund", REFUND)

    assert outcome.ok and outcome.result is not None
    assert outcome.result["structuredContent"] == {"refund_id": "R1"}
    [wait] = outcome.waits
    assert (wait.reason, wait.approval_id, wait.attempts) == ("approval.pending", "apr-7", 2)
    first, *repeats = stand_in.calls("billing.issue_refund")
    assert first["_meta"] == {CONVERSATION_META: "conv-9"}
    assert len(repeats) == 2
    for repeat in repeats:
        assert repeat["arguments"] == REFUND
        assert repeat["_meta"] == {CONVERSATION_META: "conv-9", APPROVAL_META: "apr-7"}


@pytest.mark.parametrize("reason", ["approval.denied", "approval.expired", "approval.mismatch"])
async def test_a_decided_approval_ends_the_wait_with_the_refusal(stand_in: StandIn, reason: str) -> None:
    stand_in.answers["billing.issue_refund"] = [pending(), refused(-31403, reason)]
    async with GatewayClient(stand_in.url, "key", waits=FAST) as client:
        await client.connect()
        outcome = await client.call_tool_waiting("billing.issue_refund", REFUND)

    assert (outcome.ok, outcome.error_code, outcome.reason) == (False, -31403, reason)
    assert len(stand_in.calls("billing.issue_refund")) == 2


async def test_approval_polling_is_bounded_by_max_approval_wait(stand_in: StandIn) -> None:
    stand_in.answers["billing.issue_refund"] = [pending()]
    waits = WaitPolicy(poll_s=0.05, max_approval_wait_s=0.3)
    async with GatewayClient(stand_in.url, "key", waits=waits) as client:
        await client.connect()
        outcome = await client.call_tool_waiting("billing.issue_refund", REFUND)

    assert outcome.reason == "approval.pending"
    assert 0 < outcome.waited_s <= 0.3  # the pauses never add up past the bound
    assert len(stand_in.calls("billing.issue_refund")) >= 2


async def test_approval_polling_never_passes_the_requests_expiry(stand_in: StandIn) -> None:
    stand_in.answers["billing.issue_refund"] = [pending(expires_in_s=0.4)]
    async with GatewayClient(stand_in.url, "key", waits=WaitPolicy(poll_s=0.1, max_approval_wait_s=300)) as client:
        await client.connect()
        outcome = await client.call_tool_waiting("billing.issue_refund", REFUND)

    assert outcome.reason == "approval.pending"
    assert 0 < outcome.waited_s <= 0.4


async def test_approval_polling_stops_at_the_callers_deadline(stand_in: StandIn) -> None:
    stand_in.answers["billing.issue_refund"] = [pending()]
    async with GatewayClient(stand_in.url, "key", waits=WaitPolicy(poll_s=0.05)) as client:
        await client.connect()
        outcome = await client.call_tool_waiting("billing.issue_refund", REFUND, deadline=time.monotonic() + 0.3)

    assert outcome.reason == "approval.pending"
    assert outcome.waited_s < 0.3


async def test_the_agent_waits_for_the_approval_and_the_call_executes_once(stand_in: StandIn) -> None:
    """The demo story: finance asks for a refund above its limit, waits for a human, the refund runs once."""
    stand_in.answers["crm.get_customer"] = [result({"id": "C1001", "name": "Ada Lovelace"})]
    stand_in.answers["billing.issue_refund"] = [pending("apr-3"), pending("apr-3"), result({"refund_id": "R9"})]

    trace = await run_agent(stand_in.url, "key", "finance-refund-approval", waits=FAST)

    assert trace.stop_reason == "answer"
    assert trace.answer == "Refund R9 of 450 EUR issued to Ada Lovelace after approval."
    refund = tool_events(trace)[1]
    assert refund.decision == "allowed"
    assert refund.waits == [{"reason": "approval.pending", "waited_s": 0.04, "attempts": 2, "approval_id": "apr-3"}]
    assert "waited 0.0 s for approval.pending (2x) approval apr-3" in trace.render()
    assert all(call["_meta"][CONVERSATION_META] == trace.conversation_id for call in stand_in.calls("crm.get_customer"))


async def test_a_denied_approval_is_an_observation_the_script_answers(stand_in: StandIn) -> None:
    stand_in.answers["crm.get_customer"] = [result({"id": "C1001", "name": "Ada Lovelace"})]
    stand_in.answers["billing.issue_refund"] = [pending(), refused(-31403, "approval.denied")]

    trace = await run_agent(stand_in.url, "key", "finance-refund-approval", waits=FAST)

    assert trace.answer == "A human approver denied the 450 EUR refund."
    assert tool_events(trace)[1].reason == "approval.denied"


@pytest.mark.parametrize(("code", "reason"), [(-31429, "ratelimit.exceeded"), (-31503, "backend.unavailable")])
async def test_a_passing_refusal_is_waited_out_then_sent_again(stand_in: StandIn, code: int, reason: str) -> None:
    stand_in.answers["docs.search"] = [refused(code, reason, retry_after_s=0.05), result({"results": []})]
    async with GatewayClient(stand_in.url, "key") as client:
        await client.connect()
        outcome = await client.call_tool_waiting("docs.search", {"query": "x"})

    assert outcome.ok
    [wait] = outcome.waits
    assert (wait.reason, wait.waited_s) == (reason, 0.05)


async def test_retries_of_a_passing_refusal_are_bounded(stand_in: StandIn) -> None:
    stand_in.answers["docs.search"] = [refused(-31429, "ratelimit.exceeded", retry_after_s=0.01)]
    async with GatewayClient(stand_in.url, "key", waits=WaitPolicy(max_retries=2)) as client:
        await client.connect()
        outcome = await client.call_tool_waiting("docs.search", {"query": "x"})

    assert outcome.reason == "ratelimit.exceeded"
    assert len(stand_in.calls("docs.search")) == 3


async def test_a_long_rate_limit_is_returned_at_once_for_the_model_to_read(gateway: RunningGateway) -> None:
    """clock.now allows 3 at once, then one per 10 s: longer than this client will wait."""
    waits = WaitPolicy(max_retry_after_s=1.0)
    async with GatewayClient(gateway.url, gateway.keys["support-agent"], waits=waits) as client:
        await client.connect()
        outcomes = [await client.call_tool_waiting("clock.now", {}) for _ in range(4)]

    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert outcomes[3].reason == "ratelimit.exceeded"
    assert outcomes[3].retry_after_s is not None and outcomes[3].retry_after_s > 1.0
    assert outcomes[3].waits == ()


async def test_call_tool_alone_returns_each_refusal_without_waiting(stand_in: StandIn) -> None:
    """The demo shows every decision as it comes: call_tool never waits."""
    stand_in.answers["billing.issue_refund"] = [pending("apr-1"), result({"refund_id": "R1"})]
    async with GatewayClient(stand_in.url, "key") as client:
        await client.connect()
        outcome = await client.call_tool("billing.issue_refund", REFUND)

    assert (outcome.error_code, outcome.reason, outcome.approval_id) == (-31202, "approval.pending", "apr-1")
    assert outcome.expires_at is not None and outcome.expires_at.endswith("Z")


async def test_a_forgotten_session_is_opened_again_and_the_request_sent_once_more(stand_in: StandIn) -> None:
    stand_in.answers["docs.search"] = [result({"results": []})]
    async with GatewayClient(stand_in.url, "key") as client:
        await client.connect()
        first = client.session_id
        stand_in.forget_sessions = 1
        outcome = await client.call_tool("docs.search", {"query": "x"})
        second = client.session_id

    assert outcome.ok
    assert (first, second) == ("s1", "s2")
    assert len(stand_in.calls("docs.search")) == 1
