"""Fixtures for the agent runtime: a gateway stand-in, and agents run against the real gateway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent_runtime import Agent, Budget, GatewayClient, Trace, WaitPolicy
from agent_runtime.memory import ConversationStore
from agent_runtime.models import ScriptedModel
from agent_runtime.models.script_format import parse_script
from agent_runtime.models.scripted import load_script
from tests.agent_runtime.standin import StandIn, serve_standin
from tests.conftest import RunningGateway


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    yield from serve_standin(StandIn())


def scripted(script: str | dict[str, Any]) -> ScriptedModel:
    """A scripted model for a built-in script's name or for script data written in the test."""
    return ScriptedModel(load_script(script) if isinstance(script, str) else parse_script(script, source="test"))


async def run_agent(
    url: str,
    key: str,
    script: str | dict[str, Any],
    task: str = "do the task",
    *,
    budget: Budget | None = None,
    waits: WaitPolicy | None = None,
    store: ConversationStore | None = None,
    conversation_id: str | None = None,
) -> Trace:
    async with GatewayClient(url, key, waits=waits) as client:
        agent = Agent(client, scripted(script), store=store, budget=budget)
        return await agent.run(task, conversation_id=conversation_id)


async def run_on_gateway(gateway: RunningGateway, role: str, script: str | dict[str, Any], **options: Any) -> Trace:
    return await run_agent(gateway.url, gateway.keys[role], script, **options)


def tool_events(trace: Trace) -> list[Any]:
    return [event for event in trace.events if event.kind == "tool"]


def calls_of(gateway: RunningGateway, tool: str) -> list[dict[str, Any]]:
    """The gateway's audit records of calls to ``tool``."""
    return [record for record in gateway.audit_records() if record.get("tool") == tool]
