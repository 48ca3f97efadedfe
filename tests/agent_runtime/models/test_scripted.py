"""The scripted model: its format checked at load, its moves and token counts deterministic."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.messages import Message, tool_message
from agent_runtime.models import ModelError, ScriptedModel, load_model
from agent_runtime.models.script_format import ScriptError, parse_script
from agent_runtime.models.scripted import load_script
from agent_runtime.models.scripts import BUILTIN_SCRIPTS
from agent_runtime.observations import Observation

TASK = [Message(role="system", content="Be brief."), Message(role="user", content="Book it")]


def model(data: dict[str, Any]) -> ScriptedModel:
    return ScriptedModel(parse_script(data, source="test"))


@pytest.mark.parametrize("name", sorted(BUILTIN_SCRIPTS))
def test_every_shipped_script_loads(name: str) -> None:
    assert load_script(name).name == name


def test_a_script_file_loads(tmp_path: Any) -> None:
    path = tmp_path / "hello.yaml"
    path.write_text("name: hello\ndescription: says hello\nsteps:\n  - answer: hello\n")

    assert isinstance(load_model(f"scripted:{path}", {}), ScriptedModel)


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([{"call": "x", "answer": "y"}], "steps\\[0\\]: needs exactly one of call, calls or answer"),
        ([{"answer": "a", "colour": "red"}], "steps\\[0\\]: unknown keys: colour"),
        (
            [{"call": "x", "on": [{"if": {"reason": "policy.denied"}, "goto": "later"}]}],
            "steps\\[0\\].on\\[0\\]: goto names no step 'later'",
        ),
        (
            [{"call": "x", "on": [{"if": {"outcome": "maybe"}, "goto": "step-1"}]}],
            "steps\\[0\\].on\\[0\\].if.outcome: is one of",
        ),
        ([{"answer": "a"}, {"id": "step-1", "answer": "b"}], "steps\\[1\\]: id 'step-1' is used twice"),
        ([{"call": "x", "next": "nowhere"}], "steps\\[0\\].next: names no step 'nowhere'"),
    ],
)
def test_a_script_that_cannot_be_played_is_refused_with_the_place(steps: list[Any], problem: str) -> None:
    with pytest.raises(ScriptError, match=f"^test: {problem}"):
        parse_script({"name": "bad", "steps": steps}, source="test")


def test_an_unknown_script_names_the_shipped_ones() -> None:
    with pytest.raises(ModelError, match="support-lookup"):
        load_model("scripted:nope", {})


async def test_a_reaction_picks_the_branch_for_the_observed_reason() -> None:
    scripted = model(
        {
            "name": "branches",
            "steps": [
                {"id": "try", "call": "billing.issue_refund", "arguments": {"amount": 1},
                 "on": [{"if": {"reason": "policy.denied"}, "goto": "other"}]},
                {"id": "fine", "answer": "refunded"},
                {"id": "other", "answer": "denied: {last.reason}"},
            ],
        }
    )  # fmt: skip
    first = await scripted.complete(TASK, [])
    [call] = first.tool_calls
    denied = Observation("billing.issue_refund", "refused", "no", reason="policy.denied", code=-31403)
    allowed = Observation("billing.issue_refund", "ok", "{}")

    after_denied = await scripted.complete([*TASK, first.as_message(), tool_message(call, denied)], [])
    after_allowed = await scripted.complete([*TASK, first.as_message(), tool_message(call, allowed)], [])

    assert after_denied.content == "denied: policy.denied"
    assert after_allowed.content == "refunded"


async def test_a_patch_resends_only_the_call_whose_schema_error_named_the_path() -> None:
    scripted = model(
        {
            "name": "patching",
            "steps": [
                {"id": "two", "calls": [{"tool": "a.one", "arguments": {"x": 1, "bad": "y"}},
                                        {"tool": "a.two", "arguments": {"z": 2}}],
                 "on": [{"if": {"outcome": "schema_error", "path": "$"}, "patch": {"bad": None, "x": 5}}]},
                {"answer": "done"},
            ],
        }
    )  # fmt: skip
    first = await scripted.complete(TASK, [])
    one, two = first.tool_calls
    error = Observation("a.one", "schema_error", "Invalid arguments", reason="schema.invalid", paths=("$",))
    history = [*TASK, first.as_message(), tool_message(one, error), tool_message(two, Observation("a.two", "ok", ""))]

    second = await scripted.complete(history, [])

    [again] = second.tool_calls
    assert (again.name, again.arguments) == ("a.one", {"x": 5})


async def test_tokens_are_counted_as_words_deterministically() -> None:
    scripted = model({"name": "words", "steps": [{"answer": "three little words"}]})

    turn = await scripted.complete(TASK, [])

    assert (turn.tokens_in, turn.tokens_out) == (4, 3)  # "Be brief." + "Book it"; the answer
    assert turn == await scripted.complete(TASK, [])


async def test_a_finished_script_says_so() -> None:
    scripted = model({"name": "short", "steps": [{"answer": "one"}]})
    first = await scripted.complete(TASK, [])

    second = await scripted.complete([*TASK, first.as_message(), Message(role="user", content="more")], [])

    assert second.is_final and second.content == "The script has no more steps."
