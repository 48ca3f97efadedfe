"""A deterministic model that plays a script: offline runs, demos and tests without an LLM.

A script is data (Python, YAML or JSON) with a ``name``, a ``description`` and
a list of ``steps``. Each step is one model turn: it proposes tool calls or it
answers.

.. code-block:: yaml

    name: sales-meeting
    description: Sales books a meeting and corrects a start time the schema refuses.
    steps:
      - id: book                       # optional; a step is "step-N" (N from 1) otherwise
        say: Booking the meeting.      # optional text beside the calls
        call: calendar.create_event    # one call: call + arguments; several: calls: [{tool, arguments}]
        arguments: {title: Renewal call, start: next Tuesday 10am}
        on:                            # reactions to what the calls came to; the first that matches wins
          - if: {outcome: schema_error, path: $.start}
            patch: {start: "2026-12-01T10:00:00Z"}   # send the call again with these arguments changed
          - if: {reason: policy.denied}
            goto: give-up                            # go to another step
          - if: {outcome: refused}
            answer: "I could not book it: {last.reason}"   # answer at once
        next: done                     # optional; the following step otherwise
      - id: done
        answer: "Booked {book.result.id} at {book.result.start}."
      - id: give-up
        answer: I may not book meetings.

``if`` matches an observation of the step's calls when every key holds:
``outcome`` (ok, tool_error, schema_error, refused, not_run), ``reason`` (the
gateway's reason: policy.denied, approval.denied, ratelimit.exceeded ...),
``tool``, ``path`` (a schema error names this path) and ``text_contains``. A
``patch`` value of ``null`` removes the argument; a patched call is judged by
the same reactions again, so the step budget bounds a correction that never
succeeds. With no reaction matching, the script goes on to ``next``.

Answers, ``say`` and string arguments may quote observations: ``{last.text}``,
``{last.reason}``, ``{last.approval_id}``, ``{last.result.KEY}`` for the last
observation, ``{STEP.text}`` or ``{STEP.result.KEY}`` for a step's last call.
A placeholder that resolves to nothing is left as written.

Waiting is not the script's business: rate limits and human approvals are
waited out by the gateway client, and the script sees the final outcome (an
approved refund is simply ``ok``; a denied one is ``approval.denied``).

Its position is kept in the conversation (each of its messages notes its
step), so a conversation saved in one process continues in another. Tokens
are counted deterministically as whitespace-separated words: every message's
text and its calls' JSON arguments in, the turn's text and calls out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_runtime.messages import Message, ToolCallRequest
from agent_runtime.models.base import ModelError, ModelTurn, ToolSpec, prompt_words, words
from agent_runtime.models.script_format import Reaction, Script, Step, parse_script
from agent_runtime.models.scripts import BUILTIN_SCRIPTS
from agent_runtime.observations import Observation

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\}")


def load_script(spec: str) -> Script:
    """A built-in script by name, or a script file (``.yaml``, ``.yml``, ``.json``)."""
    if spec in BUILTIN_SCRIPTS:
        return parse_script(BUILTIN_SCRIPTS[spec], source=f"built-in script {spec}")
    path = Path(spec)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        import yaml  # JSON is YAML too

        return parse_script(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))
    known = ", ".join(sorted(BUILTIN_SCRIPTS))
    raise ModelError(f"no script {spec!r}: name a built-in one ({known}) or a .yaml/.json file")


@dataclass(frozen=True, slots=True)
class _Move:
    step: Step
    patch: dict[str, Any] | None = None
    #: A patched step resends only the calls that matched.
    only: tuple[int, ...] | None = None


class ScriptedModel:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.name = f"scripted:{script.name}"

    async def aclose(self) -> None:
        return None

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        move = self._next_move(messages)
        turns = sum(1 for message in messages if message.role == "assistant")
        if move is None:
            return self._turn(messages, "The script has no more steps.", (), {"step": None})
        step = move.step
        meta = {"script": self.script.name, "step": step.id}
        if step.answer is not None:
            return self._turn(messages, _fill(step.answer, messages), (), meta)
        sent = [index for index in range(len(step.calls)) if move.only is None or index in move.only]
        calls = tuple(
            ToolCallRequest(
                f"{step.id}-{turns + 1}-{index}",
                step.calls[index][0],
                _fill_values(_patched(step.calls[index][1], move.patch), messages),
            )
            for index in sent
        )
        say = _fill(step.say, messages) if step.say is not None else None
        return self._turn(messages, say, calls, {**meta, "calls": sent})

    def _turn(
        self, messages: Sequence[Message], content: str | None, calls: tuple[ToolCallRequest, ...], meta: dict[str, Any]
    ) -> ModelTurn:
        return ModelTurn(content, calls, prompt_words(messages), words(content, calls), meta=meta)

    def _next_move(self, messages: Sequence[Message]) -> _Move | None:
        position = _last_position(messages, self.script.name)
        if position is None:
            return _Move(self.script.steps[0]) if self.script.steps else None
        index, message = position
        step = self.script.by_id.get(str(message.meta.get("step")))
        if step is None:
            raise ModelError(f"the conversation is at step {message.meta.get('step')!r}, unknown to {self.name}")
        observations = _answers(messages, index)
        sent = message.meta.get("calls") or list(range(len(step.calls)))
        for reaction in step.reactions:
            matched = [sent[i] for i, seen in enumerate(observations) if i < len(sent) and _matches(reaction, seen)]
            if not matched:
                continue
            if reaction.answer is not None:
                return _Move(Step(id=step.id, answer=reaction.answer))
            if reaction.patch is not None:
                return _Move(step, reaction.patch, tuple(matched))
            return _Move(self.script.by_id[str(reaction.goto)])
        following = self.script.following(step)
        return _Move(following) if following is not None else None


def _last_position(messages: Sequence[Message], script: str) -> tuple[int, Message] | None:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "assistant" and message.meta.get("script") == script:
            return index, message
    return None


def _answers(messages: Sequence[Message], index: int) -> list[Observation]:
    """The observations of the calls the assistant message at ``index`` made, in call order."""
    wanted = [call.id for call in messages[index].tool_calls]
    found = {m.tool_call_id: m.observation for m in messages[index + 1 :] if m.role == "tool" and m.observation}
    return [found[call_id] for call_id in wanted if call_id in found]


def _matches(reaction: Reaction, seen: Observation) -> bool:
    when = reaction.when
    return (
        ("outcome" not in when or when["outcome"] == seen.outcome)
        and ("reason" not in when or when["reason"] == seen.reason)
        and ("tool" not in when or when["tool"] == seen.tool)
        and ("path" not in when or when["path"] in seen.paths)
        and ("text_contains" not in when or when["text_contains"] in seen.text)
    )


def _patched(arguments: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    if not patch:
        return dict(arguments)
    merged = {**arguments, **patch}
    return {key: value for key, value in merged.items() if value is not None}


def _fill_values(arguments: dict[str, Any], messages: Sequence[Message]) -> dict[str, Any]:
    return {key: _fill(value, messages) if isinstance(value, str) else value for key, value in arguments.items()}


def _fill(text: str, messages: Sequence[Message]) -> str:
    def resolve(match: re.Match[str]) -> str:
        head, *rest = match.group(1).split(".")
        seen = _observation_of(messages, head)
        value: Any = seen.to_dict() if seen is not None else None
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        return match.group(0) if value is None else str(value)

    return _PLACEHOLDER.sub(resolve, text)


def _observation_of(messages: Sequence[Message], head: str) -> Observation | None:
    """The last observation overall (``last``), or that of step ``head``'s last call."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if head == "last" and message.role == "tool" and message.observation is not None:
            return message.observation
        if head != "last" and message.role == "assistant" and message.meta.get("step") == head:
            answers = _answers(messages, index)
            return answers[-1] if answers else None
    return None
