"""Conversation state in memory and in a real Redis: a conversation saved by one runtime continues in another."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import redis

from agent_runtime import Budget, ConversationConflict, MemoryConversationStore, RedisConversationStore
from agent_runtime.memory import KEY_PREFIX, Conversation, ConversationStore, check_conversation_id
from agent_runtime.messages import Message
from agent_runtime.observations import Observation
from gateway.serving import free_port
from tests.agent_runtime.conftest import calls_of, run_on_gateway, tool_events
from tests.conftest import REPO_ROOT, RunningGateway


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ConversationStore]:
    made: ConversationStore
    if request.param == "memory":
        made = MemoryConversationStore()
    else:
        made = RedisConversationStore.from_url(request.getfixturevalue("redis_url"))
    yield made
    await made.aclose()


async def test_a_saved_conversation_loads_with_every_field(store: ConversationStore) -> None:
    observation = Observation("crm.get_customer", "schema_error", "bad", reason="schema.invalid", paths=("$.id",))
    conversation = Conversation(
        "conv-1",
        (
            Message(role="user", content="hi"),
            Message(role="assistant", content=None, meta={"script": "s", "step": "a"}),
            Message(role="tool", content="bad", tool_call_id="c1", observation=observation),
        ),
    )

    saved = await store.save(conversation)
    loaded = await store.load("conv-1")

    assert saved.version == 1
    assert loaded == saved
    assert await store.load("conv-unknown") is None


async def test_a_save_from_a_stale_copy_is_refused(store: ConversationStore) -> None:
    first = await store.save(Conversation("conv-2"))
    await store.save(first.with_messages(Message(role="user", content="a")))

    with pytest.raises(ConversationConflict):
        await store.save(first.with_messages(Message(role="user", content="b")))
    loaded = await store.load("conv-2")
    assert loaded is not None and [m.content for m in loaded.messages] == ["a"]


@pytest.mark.redis
async def test_redis_keys_live_under_the_prefix_and_expire(redis_url: str) -> None:
    store = RedisConversationStore.from_url(redis_url, ttl_s=600)
    await store.save(Conversation("conv-3"))
    await store.aclose()

    with redis.Redis.from_url(redis_url) as client:
        assert client.keys("*") == [f"{KEY_PREFIX}conv-3".encode()]
        assert 0 < client.ttl(f"{KEY_PREFIX}conv-3") <= 600


def test_conversation_ids_are_checked_before_they_travel() -> None:
    assert check_conversation_id("conv-0f.1:2_3") == "conv-0f.1:2_3"
    for bad in ("", "a b", "x" * 129, "conv\n1"):
        with pytest.raises(ValueError):
            check_conversation_id(bad)


@pytest.mark.redis
async def test_a_second_runtime_continues_a_conversation_the_first_left(
    gateway: RunningGateway, redis_url: str
) -> None:
    first_store = RedisConversationStore.from_url(redis_url)
    first = await run_on_gateway(gateway, "support-agent", "support-lookup", store=first_store,
                                 budget=Budget(max_steps=1))  # fmt: skip
    await first_store.aclose()
    second_store = RedisConversationStore.from_url(redis_url)
    second = await run_on_gateway(gateway, "support-agent", "support-lookup", task=None, store=second_store,
                                  conversation_id=first.conversation_id)  # fmt: skip
    await second_store.aclose()

    assert first.stop_reason == "max_steps"
    assert [e.tool for e in tool_events(first)] == ["crm.get_customer"]
    assert second.stop_reason == "answer"
    assert [e.tool for e in tool_events(second)] == ["docs.search"]  # where the first stopped, not from the top
    assert second.answer is not None and second.answer.startswith("Ada Lovelace is on the enterprise plan.")
    assert len(calls_of(gateway, "crm.get_customer")) == 1


@pytest.mark.redis
async def test_another_process_continues_the_conversation(gateway: RunningGateway, redis_url: str) -> None:
    store = RedisConversationStore.from_url(redis_url)
    first = await run_on_gateway(gateway, "finance-agent", "finance-refund", store=store, budget=Budget(max_steps=1),
                                 conversation_id="conv-across-processes")  # fmt: skip
    await store.aclose()
    command = [sys.executable, "-m", "gateway", "agent", "run", "--model", "scripted:finance-refund"]
    command += ["--key-env", "AGENT_KEY", "--url", gateway.url, "--redis-url", redis_url]
    command += ["--conversation", "conv-across-processes", "--json"]
    env = {**os.environ, "AGENT_KEY": gateway.keys["finance-agent"]}

    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False
    )

    assert first.stop_reason == "max_steps"
    assert done.returncode == 0, done.stderr
    trace = json.loads(done.stdout)
    assert trace["conversation_id"] == "conv-across-processes"
    assert trace["stop_reason"] == "answer"
    assert trace["answer"].startswith("Refund R") and trace["answer"].endswith("issued to Ada Lovelace.")
    assert [e["tool"] for e in trace["events"] if e["kind"] == "tool"] == ["billing.issue_refund"]
    assert len(calls_of(gateway, "billing.issue_refund")) == 1


async def test_an_unreachable_store_stops_the_run_rather_than_forget_its_turns(gateway: RunningGateway) -> None:
    store = RedisConversationStore.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    trace = await run_on_gateway(gateway, "support-agent", "support-lookup", store=store)
    await store.aclose()

    assert trace.stop_reason == "store_error"
    assert trace.stop_detail == "conversation store unavailable: ConnectionError"
    assert calls_of(gateway, "crm.get_customer") == []
