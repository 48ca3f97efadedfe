"""The scripted model's script format, checked once at load (the format is described in scripted.py).

A script that cannot be played (an unknown key, a step with both calls and an
answer, a ``goto`` to no step) is refused with the source and the place:
``sales.yaml: steps[1].on[0]: goto names no step 'later'``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.models.base import ModelError

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STEP_KEYS = {"id", "say", "call", "arguments", "calls", "answer", "on", "next"}
_REACTION_KEYS = {"if", "goto", "answer", "patch"}
_MATCH_KEYS = {"outcome", "reason", "tool", "path", "text_contains"}
_OUTCOMES = {"ok", "tool_error", "schema_error", "refused", "not_run"}


class ScriptError(ModelError):
    """A script that cannot be played; the message names its source and the place."""


#: Builds the error for a place in the script and what is wrong there.
_Fail = Callable[[str, str], ScriptError]


@dataclass(frozen=True, slots=True)
class Reaction:
    when: dict[str, str]
    goto: str | None = None
    answer: str | None = None
    patch: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    say: str | None = None
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    answer: str | None = None
    reactions: tuple[Reaction, ...] = ()
    next: str | None = None


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    description: str
    steps: tuple[Step, ...]
    by_id: dict[str, Step] = field(default_factory=dict, compare=False)

    def following(self, step: Step) -> Step | None:
        """The step after ``step``: its ``next``, else the one below it, else none (the script is over)."""
        if step.next is not None:
            return self.by_id[step.next]
        position = next((i for i, s in enumerate(self.steps) if s.id == step.id), len(self.steps))
        return self.steps[position + 1] if position + 1 < len(self.steps) else None


def parse_script(data: Any, *, source: str) -> Script:
    def fail(where: str, problem: str) -> ScriptError:
        return ScriptError(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")

    if not isinstance(data, dict) or set(data) - {"name", "description", "steps"}:
        raise fail("", "a script is a mapping with name, description and steps")
    name, steps = data.get("name"), data.get("steps")
    if not isinstance(name, str) or not _ID.match(name):
        raise fail("name", "must be letters, digits, _ or - (at most 64)")
    if not isinstance(steps, list) or not steps:
        raise fail("steps", "must be a non-empty list")
    parsed = tuple(_step(raw, index, fail) for index, raw in enumerate(steps))
    by_id: dict[str, Step] = {}
    for index, step in enumerate(parsed):
        if step.id in by_id:
            raise fail(f"steps[{index}]", f"id {step.id!r} is used twice")
        by_id[step.id] = step
    for index, step in enumerate(parsed):
        if step.next is not None and step.next not in by_id:
            raise fail(f"steps[{index}].next", f"names no step {step.next!r}")
        for number, reaction in enumerate(step.reactions):
            if reaction.goto is not None and reaction.goto not in by_id:
                raise fail(f"steps[{index}].on[{number}]", f"goto names no step {reaction.goto!r}")
    return Script(name, str(data.get("description", "")), parsed, by_id)


def _step(raw: Any, index: int, fail: _Fail) -> Step:
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise fail(where, "a step is a mapping")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise fail(where, f"unknown keys: {', '.join(sorted(unknown))}")
    step_id = raw.get("id", f"step-{index + 1}")
    if not isinstance(step_id, str) or not _ID.match(step_id):
        raise fail(f"{where}.id", "must be letters, digits, _ or - (at most 64)")
    if sum(key in raw for key in ("call", "calls", "answer")) != 1:
        raise fail(where, "needs exactly one of call, calls or answer")
    if "arguments" in raw and "call" not in raw:
        raise fail(where, "arguments go with call")
    calls: list[tuple[str, dict[str, Any]]] = []
    if "call" in raw:
        calls.append(_call(raw["call"], raw.get("arguments", {}), f"{where}.call", fail))
    for number, entry in enumerate(raw.get("calls") or []):
        if not isinstance(entry, dict) or set(entry) - {"tool", "arguments"}:
            raise fail(f"{where}.calls[{number}]", "a call is a mapping with tool and arguments")
        calls.append(_call(entry.get("tool"), entry.get("arguments", {}), f"{where}.calls[{number}]", fail))
    if "calls" in raw and not calls:
        raise fail(f"{where}.calls", "must list at least one call")
    answer, say = raw.get("answer"), raw.get("say")
    if answer is not None and not isinstance(answer, str):
        raise fail(f"{where}.answer", "must be text")
    if say is not None and (not isinstance(say, str) or answer is not None):
        raise fail(f"{where}.say", "is text beside calls")
    next_step = raw.get("next")
    if next_step is not None and not isinstance(next_step, str):
        raise fail(f"{where}.next", "must name a step")
    reactions = raw.get("on") or []
    if not isinstance(reactions, list) or (reactions and answer is not None):
        raise fail(f"{where}.on", "is a list of reactions, on a step that makes calls")
    return Step(
        id=step_id,
        say=say,
        calls=tuple(calls),
        answer=answer,
        reactions=tuple(_reaction(r, f"{where}.on[{n}]", fail) for n, r in enumerate(reactions)),
        next=next_step,
    )


def _call(tool: Any, arguments: Any, where: str, fail: _Fail) -> tuple[str, dict[str, Any]]:
    if not isinstance(tool, str) or not tool:
        raise fail(where, "names a tool")
    if not isinstance(arguments, dict):
        raise fail(where, "arguments must be a mapping")
    return tool, arguments


def _reaction(raw: Any, where: str, fail: _Fail) -> Reaction:
    if not isinstance(raw, dict) or set(raw) - _REACTION_KEYS or not isinstance(raw.get("if"), dict):
        raise fail(where, "a reaction is a mapping with if and one of goto, answer or patch")
    when = raw["if"]
    if set(when) - _MATCH_KEYS or not all(isinstance(v, str) for v in when.values()):
        raise fail(f"{where}.if", f"matches on {', '.join(sorted(_MATCH_KEYS))}, each a text")
    if "outcome" in when and when["outcome"] not in _OUTCOMES:
        raise fail(f"{where}.if.outcome", f"is one of {', '.join(sorted(_OUTCOMES))}")
    if sum(key in raw for key in ("goto", "answer", "patch")) != 1:
        raise fail(where, "needs exactly one of goto, answer or patch")
    patch = raw.get("patch")
    if patch is not None and not isinstance(patch, dict):
        raise fail(f"{where}.patch", "must be a mapping of arguments")
    for key in ("goto", "answer"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(f"{where}.{key}", "must be text")
    return Reaction(when=dict(when), goto=raw.get("goto"), answer=raw.get("answer"), patch=patch)
