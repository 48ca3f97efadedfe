"""The invoke handler: the call's arguments go to the tool's backend, and the time spent there is noted."""

from __future__ import annotations

import pytest

from gateway.errors import BackendBadResponse
from gateway.stages import invoke
from gateway.tools import ToolRegistry
from tests.stages.calls import ECHO, registry, tool_call, with_tools

TOOL = "test.echo"


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolRegistry:
    return registry(with_tools(tmp_path_factory.mktemp("invoke"), {TOOL: ECHO}))


async def test_the_arguments_reach_the_backend_and_its_answer_comes_back(tools: ToolRegistry) -> None:
    result = await invoke(tool_call(TOOL, {"value": {"customer": "C1001"}}, resolved=tools))
    assert result.structured == {"customer": "C1001"} and not result.is_error


async def test_one_attempt_and_the_backend_time_are_noted(tools: ToolRegistry) -> None:
    call = tool_call(TOOL, {"value": 1, "sleep_s": 0.05}, resolved=tools)
    await invoke(call)
    assert call.notes["attempts"] == 1
    assert call.notes["backend_us"] >= 40_000, "at least the time the backend slept"


async def test_backend_time_adds_up_over_the_attempts_the_retry_stage_makes(tools: ToolRegistry) -> None:
    call = tool_call(TOOL, {"value": 1, "sleep_s": 0.02}, resolved=tools)
    await invoke(call)
    first = call.notes["backend_us"]
    call.notes["attempts"] = 2  # as the retry stage sets it before its next attempt
    await invoke(call)
    assert call.notes["attempts"] == 2
    assert call.notes["backend_us"] >= first + 15_000


async def test_a_failed_attempt_still_counts_its_backend_time(tools: ToolRegistry) -> None:
    call = tool_call(TOOL, {"fail": "crash", "sleep_s": 0.02}, resolved=tools)
    with pytest.raises(BackendBadResponse):
        await invoke(call)
    assert call.notes["backend_us"] >= 15_000
