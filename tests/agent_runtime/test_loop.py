"""The agent loop against a real gateway (shipped configuration, demo backends) with the scripted model."""

from __future__ import annotations

import re
from typing import Any

from agent_runtime import Budget, MemoryConversationStore
from agent_runtime.memory import Conversation
from agent_runtime.messages import Message, ToolCallRequest
from tests.agent_runtime.conftest import calls_of, run_agent, run_on_gateway, tool_events
from tests.agent_runtime.standin import StandIn, result
from tests.conftest import RunningGateway

#: Calls docs.search for ever: only a budget stops it.
ENDLESS: dict[str, Any] = {
    "name": "endless",
    "description": "searches again and again",
    "steps": [{"id": "search", "call": "docs.search", "arguments": {"query": "refund"}, "next": "search"}],
}


async def test_a_multi_step_task_uses_two_tools_and_answers_from_their_results(gateway: RunningGateway) -> None:
    trace = await run_on_gateway(gateway, "support-agent", "support-lookup")

    assert trace.stop_reason == "answer"
    assert [(e.tool, e.decision) for e in tool_events(trace)] == [
        ("crm.get_customer", "allowed"),
        ("docs.search", "allowed"),
    ]
    assert trace.answer is not None
    assert trace.answer.startswith("Ada Lovelace is on the enterprise plan. Refund policy:")
    assert "Refunds up to 500 EUR" in trace.answer
    assert trace.steps == 3
    assert [e.kind for e in trace.events] == ["model", "tool", "model", "tool", "model"]
    assert trace.tokens_in == sum(e.tokens_in for e in trace.events if e.kind == "model") > 0
    assert len(calls_of(gateway, "crm.get_customer")) == len(calls_of(gateway, "docs.search")) == 1


async def test_a_policy_refusal_is_observed_and_the_model_routes_around_it(gateway: RunningGateway) -> None:
    trace = await run_on_gateway(gateway, "support-agent", "support-refund")

    refund, search = tool_events(trace)
    assert (refund.tool, refund.decision, refund.reason, refund.code) == (
        "billing.issue_refund",
        "refused",
        "policy.denied",
        -31403,
    )
    assert (search.tool, search.decision) == ("docs.search", "allowed")
    assert trace.stop_reason == "answer"
    assert trace.answer is not None and trace.answer.startswith("I may not issue refunds")
    [record] = calls_of(gateway, "billing.issue_refund")
    assert (record["decision"], record["reason"]) == ("refused", "policy.denied")


async def test_the_model_reads_the_refusal_reason_and_that_repeating_will_not_help(gateway: RunningGateway) -> None:
    store = MemoryConversationStore()
    trace = await run_on_gateway(gateway, "support-agent", "support-refund", store=store)

    saved = await store.load(trace.conversation_id)
    assert saved is not None
    refusal = next(m for m in saved.messages if m.role == "tool")
    assert refusal.content is not None
    assert "policy.denied" in refusal.content
    assert "repeating it unchanged will be refused again" in refusal.content


async def test_a_schema_error_is_corrected_from_the_path_it_names(gateway: RunningGateway) -> None:
    trace = await run_on_gateway(gateway, "sales-agent", "sales-meeting")

    first, second, check = tool_events(trace)
    assert (first.tool, first.outcome, first.reason) == ("calendar.create_event", "schema_error", "schema.invalid")
    assert first.arguments["start"] == "next Tuesday 10:00"
    assert (second.tool, second.outcome) == ("calendar.create_event", "ok")
    assert second.arguments == {"title": "Renewal call", "start": "2026-12-01T10:00:00Z", "duration_min": 30}
    assert (check.tool, check.outcome) == ("calendar.list_events", "ok")
    assert trace.stop_reason == "answer"
    # The demo backends live for the whole session: the event's number depends on the tests before.
    assert re.fullmatch(r"Booked Renewal call \(E\d+\) at 2026-12-01T10:00:00Z\.", trace.answer or "")


async def test_the_step_budget_stops_a_run_that_never_answers(gateway: RunningGateway) -> None:
    trace = await run_on_gateway(gateway, "support-agent", ENDLESS, budget=Budget(max_steps=3))

    assert trace.stop_reason == "max_steps"
    assert trace.answer is None
    assert trace.steps == 3
    assert len(calls_of(gateway, "docs.search")) == 3


async def test_the_token_budget_stops_before_the_calls_of_the_turn_that_spent_it(gateway: RunningGateway) -> None:
    # support-lookup's first turn costs 91 words, its second 99: the second crosses 150.
    trace = await run_on_gateway(gateway, "support-agent", "support-lookup", budget=Budget(max_tokens=150))

    assert trace.stop_reason == "max_tokens"
    assert trace.tokens > 150
    lookup, search = tool_events(trace)
    assert lookup.decision == "allowed"
    assert (search.tool, search.decision) == ("docs.search", "not_run")
    assert calls_of(gateway, "docs.search") == []


async def test_a_spent_token_budget_stops_before_the_next_turn(gateway: RunningGateway) -> None:
    trace = await run_on_gateway(gateway, "support-agent", "support-lookup", budget=Budget(max_tokens=91))

    assert trace.stop_reason == "max_tokens"
    assert trace.steps == 1  # 91 tokens exactly: its calls ran, no second turn was asked for
    assert len(calls_of(gateway, "crm.get_customer")) == 1


async def test_a_deadline_already_passed_stops_before_the_model_is_asked(gateway: RunningGateway) -> None:
    trace = await run_on_gateway(gateway, "support-agent", "support-lookup", budget=Budget(deadline_s=0))

    assert trace.stop_reason == "deadline"
    assert trace.steps == 0
    assert calls_of(gateway, "crm.get_customer") == []


async def test_the_deadline_cuts_a_call_that_takes_too_long(stand_in: StandIn) -> None:
    stand_in.answers["docs.search"] = [result({"results": []}, delay_s=3)]

    trace = await run_agent(stand_in.url, "key", ENDLESS, budget=Budget(deadline_s=0.5))

    assert trace.stop_reason == "deadline"
    assert "during a call" in trace.stop_detail
    [event] = tool_events(trace)
    assert event.decision == "not_run"


async def test_each_stop_reason_is_distinct(gateway: RunningGateway) -> None:
    reasons = {
        (await run_on_gateway(gateway, "support-agent", ENDLESS, budget=budget)).stop_reason
        for budget in (Budget(max_steps=1), Budget(max_tokens=1), Budget(deadline_s=0))
    }
    assert reasons == {"max_steps", "max_tokens", "deadline"}


async def test_a_call_left_without_outcome_by_a_cut_run_is_not_sent_again(gateway: RunningGateway) -> None:
    """A process that died mid-call may have executed it: the next run tells the model, it does not resend."""
    store = MemoryConversationStore()
    refund = ToolCallRequest("refund-2-0", "billing.issue_refund", {"customer_id": "C1001", "amount": 120,
                                                                     "currency": "EUR"})  # fmt: skip
    cut = Conversation(
        "conv-cut-1",
        (
            Message(role="system", content="You are an agent."),
            Message(role="user", content="refund"),
            Message(
                role="assistant",
                tool_calls=(refund,),
                meta={"script": "finance-refund", "step": "refund", "calls": [0]},
            ),
        ),
    )
    await store.save(cut)

    trace = await run_on_gateway(gateway, "finance-agent", "finance-refund", task=None, store=store,
                                 conversation_id="conv-cut-1")  # fmt: skip

    assert calls_of(gateway, "billing.issue_refund") == []
    saved = await store.load("conv-cut-1")
    assert saved is not None
    observation = saved.messages[3].observation
    assert observation is not None and observation.outcome == "not_run"
    assert "may have run" in observation.text
    assert trace.stop_reason == "answer"
