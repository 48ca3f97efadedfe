"""What the model is told a call came to (agent_runtime/observations.py), from the gateway's own answers."""

from __future__ import annotations

from agent_runtime import CallOutcome, MemoryConversationStore
from agent_runtime.client import Wait
from agent_runtime.observations import observe
from tests.agent_runtime.conftest import run_on_gateway
from tests.conftest import RunningGateway


async def test_a_schema_error_names_its_paths_and_asks_for_a_correction(gateway: RunningGateway) -> None:
    store = MemoryConversationStore()
    trace = await run_on_gateway(gateway, "sales-agent", "sales-meeting", store=store)
    saved = await store.load(trace.conversation_id)
    assert saved is not None

    first = next(m.observation for m in saved.messages if m.observation is not None)
    assert first.outcome == "schema_error"
    assert first.paths == ("$.start",)
    assert first.text.startswith("Invalid arguments:\n$.start: must satisfy pattern")
    assert first.text.endswith("Correct the arguments and call the tool again.")


def test_a_tool_error_is_not_a_refusal() -> None:
    outcome = CallOutcome(ok=True, result={"content": [{"type": "text", "text": "no such customer"}], "isError": True})

    seen = observe("crm.get_customer", outcome)

    assert (seen.outcome, seen.reason) == ("tool_error", None)
    assert seen.text == "The tool answered with an error: no such customer"


def test_a_rate_limit_says_when_to_try_again() -> None:
    outcome = CallOutcome(ok=False, error_code=-31429, reason="ratelimit.exceeded", message="Rate limit exceeded",
                          retry_after_s=7.5)  # fmt: skip

    seen = observe("clock.now", outcome)

    assert seen.text == (
        "Refused by the gateway: ratelimit.exceeded (code -31429): Rate limit exceeded. Retry after 7.5 s. "
        "Rate limited; wait before calling this tool again, or do something else first."
    )


def test_blocked_personal_data_names_only_the_types() -> None:
    outcome = CallOutcome(ok=False, error_code=-31451, reason="pii.blocked", message="Personal data blocked by policy",
                          data={"entities": ["IBAN_CODE", "PHONE_NUMBER"]})  # fmt: skip

    assert "Types found: IBAN_CODE, PHONE_NUMBER." in observe("crm.update_email", outcome).text


def test_an_approved_call_keeps_its_approval_id_and_the_wait() -> None:
    outcome = CallOutcome(ok=True, result={"content": [], "isError": False},
                          waits=(Wait("approval.pending", 4.0, "apr-1", attempts=2),))  # fmt: skip

    seen = observe("billing.issue_refund", outcome)

    assert (seen.outcome, seen.approval_id, seen.waited_s) == ("ok", "apr-1", 4.0)
