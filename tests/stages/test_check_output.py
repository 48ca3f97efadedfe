"""The check_output stage: a successful result must match the tool's output schema, or it is the backend's fault."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import BackendBadResponse
from gateway.pipeline import compose
from gateway.results import ToolResult
from gateway.stages import CheckOutput, invoke
from gateway.tools import ToolRegistry
from tests.stages.calls import ECHO, registry, tool_call, with_tools

CHECKED, UNCHECKED = "test.checked", "test.unchecked"


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolRegistry:
    schema = "output_schema: {type: object, required: [ok], properties: {ok: {type: boolean}}}\n"
    config = with_tools(tmp_path_factory.mktemp("check_output"), {CHECKED: schema + ECHO, UNCHECKED: ECHO})
    return registry(config)


async def answer(tools: ToolRegistry, tool: str, **arguments: Any) -> ToolResult:
    """The result of ``tool`` run through check_output and the real in-process backend."""
    return await compose([CheckOutput()], invoke)(tool_call(tool, arguments, resolved=tools))


async def test_a_result_that_matches_the_output_schema_passes(tools: ToolRegistry) -> None:
    result = await answer(tools, CHECKED, value={"ok": True})
    assert (result.structured, result.is_error) == ({"ok": True}, False)


async def test_a_result_that_breaks_the_output_schema_is_a_bad_response(tools: ToolRegistry) -> None:
    with pytest.raises(BackendBadResponse, match="output schema"):
        await answer(tools, CHECKED, value={"ok": "yes"})


async def test_a_result_without_structured_content_is_a_bad_response_when_a_schema_is_declared(
    tools: ToolRegistry,
) -> None:
    """Text alone cannot be checked against a schema for an object, so it is not handed on as if it had been."""
    with pytest.raises(BackendBadResponse):
        await answer(tools, CHECKED, value="all fine, trust me")


async def test_a_business_error_is_handed_on_unchecked(tools: ToolRegistry) -> None:
    """isError results carry the backend's own words for the model; they follow no output schema."""
    result = await answer(tools, CHECKED, fail="tool")
    assert result.is_error and result.structured == {"error": "no such thing"}


async def test_a_tool_without_an_output_schema_returns_what_its_backend_said(tools: ToolRegistry) -> None:
    result = await answer(tools, UNCHECKED, value="free text")
    assert result.content == [{"type": "text", "text": "free text"}] and result.structured is None
