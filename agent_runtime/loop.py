"""The agent loop: ask the model, run the calls it proposes through the gateway, feed back what they came to.

One step is one model turn and the calls it proposes. The loop stops on a final
answer or on a budget: steps, tokens (in + out) or the wall-clock deadline,
each with its own stop reason in the trace (agent_runtime/trace.py). The
gateway client is the only way the runtime acts; refusals come back as
observations the model can act on, and passing refusals (rate limits, a busy
backend, a pending human approval) are waited out by the client, bounded, and
never past the deadline.

The conversation is saved to the store after every model turn and every
observation, so a run cut short can be continued, in this process or another,
by running again with its conversation id. A call the saved conversation
proposed but holds no outcome for (the process died while it ran) is not sent
again: the model is told its outcome is unknown, because it may have executed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from agent_runtime.client import GatewayClient, GatewayError
from agent_runtime.memory import (
    Conversation,
    ConversationConflict,
    ConversationStore,
    ConversationStoreUnavailable,
    MemoryConversationStore,
    check_conversation_id,
    new_conversation_id,
)
from agent_runtime.messages import Message, ToolCallRequest, tool_message
from agent_runtime.models.base import Model, ModelError, ModelTurn, ToolSpec
from agent_runtime.observations import Observation, not_run, observe
from agent_runtime.trace import ModelEvent, StopReason, ToolEvent, Trace, decision_of

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent of the company. You act only through the tools you are given; every call passes "
    "through the callgate gateway, which checks it against the security policy and may refuse it. When a "
    "call is refused, read the reason: a policy refusal will not change if you repeat the call, so find "
    "another way or say what you could not do; an argument error names the path to correct. When the task "
    "is done, answer in plain text without calling a tool."
)


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits on one run: model turns, tokens in and out together, and seconds of wall clock."""

    max_steps: int = 12
    max_tokens: int = 50_000
    deadline_s: float = 300.0


class _Stop(Exception):
    def __init__(self, reason: StopReason, detail: str = "") -> None:
        self.reason, self.detail = reason, detail


class Agent:
    def __init__(
        self,
        client: GatewayClient,
        model: Model,
        *,
        store: ConversationStore | None = None,
        budget: Budget | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    ) -> None:
        self.client = client
        self.model = model
        self.store = store or MemoryConversationStore()
        self.budget = budget or Budget()
        self.system_prompt = system_prompt

    async def run(self, task: str | None, *, conversation_id: str | None = None) -> Trace:
        """Run ``task`` (a new conversation, or the next task of ``conversation_id``) until a stop."""
        started = time.monotonic()
        deadline = started + self.budget.deadline_s
        conversation_id = check_conversation_id(conversation_id) if conversation_id else new_conversation_id()
        trace = Trace(conversation_id, self.model.name)
        self.client.conversation_id = conversation_id
        try:
            conversation = await self._load(conversation_id)
            conversation = await self._begin(conversation, task)
            tools = await self._tools(deadline)
            while True:
                conversation = await self._step(conversation, tools, trace, deadline)
        except _Stop as stop:
            answer = trace.answer if stop.reason == "answer" else None
            return trace.stop(stop.reason, stop.detail, answer)
        finally:
            trace.elapsed_s = time.monotonic() - started

    async def _begin(self, conversation: Conversation, task: str | None) -> Conversation:
        added: list[Message] = []
        if not conversation.messages:
            if not task:
                raise ValueError("a new conversation needs a task")
            added.append(Message(role="system", content=self.system_prompt))
        added.extend(_unknown_outcomes(conversation.messages))
        if task:
            added.append(Message(role="user", content=task))
        return await self._save(conversation.with_messages(*added))

    async def _tools(self, deadline: float) -> list[ToolSpec]:
        try:
            if self.client.session_id is None:
                opened = await self.client.connect()
                if not opened.ok:
                    raise _Stop("gateway_error", f"initialize refused: {opened.reason}")
            return [ToolSpec.from_listing(tool) for tool in await self.client.list_tools(deadline=deadline)]
        except GatewayError as exc:
            raise _Stop("gateway_error", str(exc)) from None

    async def _step(
        self, conversation: Conversation, tools: list[ToolSpec], trace: Trace, deadline: float
    ) -> Conversation:
        budget = self.budget
        if trace.steps >= budget.max_steps:
            raise _Stop("max_steps", f"{budget.max_steps} steps taken")
        if trace.tokens >= budget.max_tokens:
            raise _Stop("max_tokens", f"{trace.tokens} of {budget.max_tokens} tokens spent")
        if time.monotonic() >= deadline:
            raise _Stop("deadline", f"{budget.deadline_s:g} s passed")
        trace.steps += 1
        turn = await self._ask(conversation, tools, trace, deadline)
        conversation = await self._save(conversation.with_messages(turn.as_message()))
        if turn.is_final:
            trace.answer = turn.content or ""
            raise _Stop("answer")
        stop: _Stop | None = None
        if trace.tokens > budget.max_tokens:
            stop = _Stop("max_tokens", f"{trace.tokens} of {budget.max_tokens} tokens spent; its calls were not made")
        for call in turn.tool_calls:
            observation, stop = await self._act(call, trace, deadline, stop)
            conversation = await self._save(conversation.with_messages(tool_message(call, observation)))
        if stop is not None:
            raise stop
        return conversation

    async def _ask(self, conversation: Conversation, tools: list[ToolSpec], trace: Trace, deadline: float) -> ModelTurn:
        started = time.monotonic()
        try:
            async with asyncio.timeout(deadline - started):
                turn = await self.model.complete(conversation.messages, tools)
        except TimeoutError:
            raise _Stop("deadline", f"{self.budget.deadline_s:g} s passed while the model answered") from None
        except ModelError as exc:
            raise _Stop("model_error", str(exc)) from None
        calls = [call.to_dict() for call in turn.tool_calls]
        latency = (time.monotonic() - started) * 1000
        event = ModelEvent(
            trace.steps, turn.content, calls, turn.tokens_in, turn.tokens_out, turn.tokens_estimated, latency
        )
        trace.events.append(event)
        trace.tokens_in += turn.tokens_in
        trace.tokens_out += turn.tokens_out
        return turn

    async def _act(
        self, call: ToolCallRequest, trace: Trace, deadline: float, stop: _Stop | None
    ) -> tuple[Observation, _Stop | None]:
        """Make one proposed call (unless the run is stopping), trace it, and say what it came to."""
        started = time.monotonic()
        waits: list[dict[str, object]] = []
        if stop is not None:
            observation = not_run(call.name, f"the run stopped ({stop.reason})")
        elif call.problem is not None:
            observation = not_run(call.name, call.problem)
        elif started >= deadline:
            stop = _Stop("deadline", f"{self.budget.deadline_s:g} s passed before a call was made")
            observation = not_run(call.name, "the deadline passed")
        else:
            try:
                async with asyncio.timeout(deadline - started):
                    outcome = await self.client.call_tool_waiting(call.name, call.arguments, deadline=deadline)
                observation = observe(call.name, outcome)
                waits = [{"reason": w.reason, "waited_s": round(w.waited_s, 3), "attempts": w.attempts,
                          "approval_id": w.approval_id} for w in outcome.waits]  # fmt: skip
            except TimeoutError:
                stop = _Stop("deadline", f"{self.budget.deadline_s:g} s passed during a call")
                observation = not_run(call.name, "the deadline passed before the gateway answered; it may have run")
            except GatewayError as exc:
                stop = _Stop("gateway_error", str(exc))
                observation = not_run(call.name, "the gateway could not be reached; it may have run")
        trace.events.append(
            ToolEvent(
                step=trace.steps,
                call_id=call.id,
                tool=call.name,
                arguments=call.arguments,
                decision=decision_of(observation.outcome),
                outcome=observation.outcome,
                reason=observation.reason,
                code=observation.code,
                latency_ms=(time.monotonic() - started) * 1000,
                waits=waits,
            )
        )
        return observation, stop

    async def _load(self, conversation_id: str) -> Conversation:
        try:
            return await self.store.load(conversation_id) or Conversation(conversation_id)
        except ConversationStoreUnavailable as exc:
            raise _Stop("store_error", f"conversation store unavailable: {exc}") from None

    async def _save(self, conversation: Conversation) -> Conversation:
        try:
            return await self.store.save(conversation)
        except ConversationConflict:
            raise _Stop("conflict", "another run saved this conversation meanwhile") from None
        except ConversationStoreUnavailable as exc:
            raise _Stop("store_error", f"conversation store unavailable: {exc}") from None


def _unknown_outcomes(messages: tuple[Message, ...]) -> list[Message]:
    """Observations for the last turn's calls that have none: the run that made them was cut off."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "assistant"), None)
    if last is None:
        return []
    answered = {m.tool_call_id for m in messages[last + 1 :] if m.role == "tool"}
    why = "the run that made it was interrupted before its outcome was known; it may have run, check before repeating"
    return [
        tool_message(call, not_run(call.name, why)) for call in messages[last].tool_calls if call.id not in answered
    ]
