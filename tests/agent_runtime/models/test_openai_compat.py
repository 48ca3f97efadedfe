"""The OpenAI-compatible adapter against a local server that speaks the chat-completions wire format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agent_runtime import Agent, Budget, GatewayClient
from agent_runtime.messages import Message, ToolCallRequest
from agent_runtime.models import ModelError, OpenAICompatModel, ToolSpec
from tests.agent_runtime.conftest import tool_events
from tests.agent_runtime.models.chat_server import ChatServer, Reply, completion, serve_chat, tool_call
from tests.conftest import RunningGateway

TOOLS = [
    ToolSpec("crm.get_customer", "Look up a customer", {"type": "object", "properties": {"customer_id": {}}}),
    ToolSpec("docs.search", "Search documents", {"type": "object"}),
]
PROMPT = [Message(role="system", content="Be brief."), Message(role="user", content="Who is C1001?")]


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    yield from serve_chat(ChatServer())


def model_for(chat: ChatServer, **options: Any) -> OpenAICompatModel:
    return OpenAICompatModel("test-model", chat.base_url, api_key="sk-test", backoff_s=0.01, **options)


async def test_tool_calls_come_back_under_the_gateways_tool_names_with_usage(chat: ChatServer) -> None:
    chat.replies = [completion(tool_calls=[tool_call("call_1", "crm_get_customer", {"customer_id": "C1001"})])]
    model = model_for(chat)

    turn = await model.complete(PROMPT, TOOLS)
    await model.aclose()

    [call] = turn.tool_calls
    assert (call.id, call.name, call.arguments, call.problem) == (
        "call_1",
        "crm.get_customer",
        {"customer_id": "C1001"},
        None,
    )
    assert (turn.tokens_in, turn.tokens_out, turn.tokens_estimated) == (57, 17, False)
    [sent] = chat.requests
    assert sent["model"] == "test-model"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who is C1001?"},
    ]
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["crm_get_customer", "docs_search"]
    assert sent["tools"][0] == {
        "type": "function",
        "function": {
            "name": "crm_get_customer",
            "description": "Look up a customer",
            "parameters": TOOLS[0].input_schema,
        },
    }
    assert chat.headers[0]["authorization"] == "Bearer sk-test"


async def test_history_goes_out_in_the_wire_format_with_mapped_names(chat: ChatServer) -> None:
    chat.replies = [completion("It is Ada.")]
    model = model_for(chat)

    history = [
        *PROMPT,
        Message(role="assistant", tool_calls=(ToolCallRequest("call_1", "crm.get_customer", {"customer_id": "C1"}),)),
        Message(role="tool", content='{"name": "Ada"}', tool_call_id="call_1"),
    ]
    turn = await model.complete(history, TOOLS)
    await model.aclose()

    assert turn.content == "It is Ada." and turn.is_final
    assistant, tool = chat.requests[0]["messages"][2:]
    assert assistant == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "crm_get_customer", "arguments": '{"customer_id": "C1"}'},
            }
        ],
    }
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": '{"name": "Ada"}'}


@pytest.mark.parametrize("status", [429, 503])
async def test_a_429_or_5xx_is_retried_then_succeeds(chat: ChatServer, status: int) -> None:
    chat.replies = [Reply({"error": {"message": "slow down"}}, status=status, headers={"Retry-After": "0"}),
                    completion("fine")]  # fmt: skip
    model = model_for(chat)

    turn = await model.complete(PROMPT, TOOLS)
    await model.aclose()

    assert turn.content == "fine"
    assert len(chat.requests) == 2


async def test_retries_are_bounded(chat: ChatServer) -> None:
    chat.replies = [Reply({"error": {"message": "rate limit reached"}}, status=429)]
    model = model_for(chat, max_retries=2)

    with pytest.raises(ModelError, match="HTTP 429: rate limit reached"):
        await model.complete(PROMPT, TOOLS)
    await model.aclose()
    assert len(chat.requests) == 3


async def test_a_refused_request_is_a_clear_error_at_once(chat: ChatServer) -> None:
    chat.replies = [Reply({"error": {"message": "model 'x' not found", "type": "invalid_request_error"}}, status=404)]
    model = model_for(chat)

    with pytest.raises(ModelError, match="HTTP 404: model 'x' not found"):
        await model.complete(PROMPT, TOOLS)
    await model.aclose()
    assert len(chat.requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>bad gateway</html>", "not JSON"),
        ({"object": "chat.completion", "choices": []}, "no choices"),
        ({"choices": [{"index": 0, "finish_reason": "stop"}]}, "choices\\[0\\].message is not an object"),
        ({"choices": [{"message": {"role": "assistant", "tool_calls": {"id": "x"}}}]}, "tool_calls is not a list"),
        ({"choices": [{"message": {"tool_calls": [{"id": "x", "type": "function"}]}}]}, "has no function name"),
        ({"choices": [{"message": {"content": 42}}]}, "neither text nor parts"),
    ],
)
async def test_a_malformed_answer_becomes_a_clear_error(chat: ChatServer, body: Any, message: str) -> None:
    chat.replies = [Reply(body)]
    model = model_for(chat)

    with pytest.raises(ModelError, match=f"malformed chat completion: {message}|{message}"):
        await model.complete(PROMPT, TOOLS)
    await model.aclose()


async def test_arguments_that_are_not_json_become_a_call_that_is_not_sent(chat: ChatServer) -> None:
    chat.replies = [completion(tool_calls=[tool_call("call_1", "docs_search", '{"query": "refund"')])]
    model = model_for(chat)

    [call] = (await model.complete(PROMPT, TOOLS)).tool_calls
    await model.aclose()

    assert (call.name, call.arguments, call.problem) == ("docs.search", {}, "the arguments were not a JSON object")


async def test_without_usage_tokens_are_estimated_by_words(chat: ChatServer) -> None:
    chat.replies = [completion("Ada Lovelace.", usage=None)]
    model = model_for(chat)

    turn = await model.complete(PROMPT, TOOLS)
    await model.aclose()

    assert (turn.tokens_in, turn.tokens_out, turn.tokens_estimated) == (5, 2, True)


async def test_settings_come_from_the_environment(chat: ChatServer) -> None:
    chat.replies = [completion("hi")]
    model = OpenAICompatModel.from_env("m1", {"CALLGATE_MODEL_BASE_URL": chat.base_url, "OPENAI_API_KEY": "sk-env"})

    await model.complete(PROMPT, [])
    await model.aclose()

    assert model.name == "openai:m1"
    assert chat.requests[0]["model"] == "m1" and "tools" not in chat.requests[0]
    assert chat.headers[0]["authorization"] == "Bearer sk-env"


def test_without_a_base_url_nothing_is_contacted() -> None:
    with pytest.raises(ModelError, match="CALLGATE_MODEL_BASE_URL"):
        OpenAICompatModel.from_env("m1", {"OPENAI_API_KEY": "sk-env"})


def _support_model(request: dict[str, Any]) -> Reply:
    """A model that looks the customer up, then answers with what the tool said."""
    tool_results = [m for m in request["messages"] if m["role"] == "tool"]
    if not tool_results:
        return completion(tool_calls=[tool_call("call_7", "crm_get_customer", {"customer_id": "C1001"})])
    return completion("Found: " + json.loads(tool_results[0]["content"])["name"], usage=(120, 4))


async def test_the_loop_runs_an_openai_compatible_model_through_the_real_gateway(
    chat: ChatServer, gateway: RunningGateway
) -> None:
    chat.respond = _support_model
    model = model_for(chat)
    async with GatewayClient(gateway.url, gateway.keys["support-agent"]) as client:
        trace = await Agent(client, model).run("Who is customer C1001?")
    await model.aclose()

    assert (trace.stop_reason, trace.answer) == ("answer", "Found: Ada Lovelace")
    assert (trace.tokens_in, trace.tokens_out) == (57 + 120, 17 + 4)
    [event] = tool_events(trace)
    assert (event.tool, event.decision) == ("crm.get_customer", "allowed")
    offered = {tool["function"]["name"] for tool in chat.requests[0]["tools"]}
    assert "crm_get_customer" in offered and "billing_issue_refund" not in offered  # support's tools only
    assert chat.requests[1]["messages"][-1]["tool_call_id"] == "call_7"


async def test_a_model_error_stops_the_run_with_its_message(chat: ChatServer, gateway: RunningGateway) -> None:
    chat.replies = [Reply({"choices": []})]
    model = model_for(chat)
    async with GatewayClient(gateway.url, gateway.keys["support-agent"]) as client:
        trace = await Agent(client, model).run("Who is customer C1001?")
    await model.aclose()

    assert (trace.stop_reason, trace.stop_detail) == ("model_error", "malformed chat completion: no choices")


async def test_the_deadline_cuts_a_model_that_takes_too_long(chat: ChatServer, gateway: RunningGateway) -> None:
    chat.replies = [Reply(completion("late").body, delay_s=3)]
    model = model_for(chat)
    async with GatewayClient(gateway.url, gateway.keys["support-agent"]) as client:
        trace = await Agent(client, model, budget=Budget(deadline_s=0.5)).run("Who is customer C1001?")
    await model.aclose()

    assert trace.stop_reason == "deadline"
    assert "while the model answered" in trace.stop_detail
