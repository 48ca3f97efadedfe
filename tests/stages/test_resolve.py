"""The resolve stage: a call reaches the stages after it with its tool looked up, or not at all."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidParams, SchemaInvalid
from gateway.pipeline import compose
from gateway.stages import Resolve
from gateway.tools import ToolRegistry
from tests.stages.calls import Recorder, registry, shipped, tool_call


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolRegistry:
    return registry(shipped(tmp_path_factory.mktemp("audit")))


async def test_a_known_tool_goes_on_with_its_compiled_tool(tools: ToolRegistry) -> None:
    after = Recorder()
    call = tool_call("crm.get_customer", {"customer_id": "C1001"})
    result = await compose([Resolve(tools)], after)(call)
    assert result is after.result
    (seen,) = after.calls
    assert seen.tool is tools.get("crm.get_customer")
    assert (seen.arguments, seen.request_id, seen.principal) == (call.arguments, call.request_id, call.principal)
    assert seen.notes is call.notes, "the audit stage outside reads the notes the inner stages write"


async def test_an_unknown_tool_is_invalid_params_and_goes_no_further(tools: ToolRegistry) -> None:
    after = Recorder()
    with pytest.raises(InvalidParams) as caught:
        await compose([Resolve(tools)], after)(tool_call("crm.drop_everything"))
    assert type(caught.value) is InvalidParams
    assert (caught.value.message, caught.value.data) == ("Unknown tool", {"tool": "crm.drop_everything"})
    assert after.calls == []


async def test_an_unknown_name_is_echoed_cut_to_128_characters(tools: ToolRegistry) -> None:
    with pytest.raises(InvalidParams) as caught:
        await compose([Resolve(tools)], Recorder())(tool_call("x" * 10_000))
    assert caught.value.data == {"tool": "x" * 128}


async def test_malformed_params_are_refused_before_the_tool_is_looked_up(tools: ToolRegistry) -> None:
    """The message says what was wrong with the params; a known tool name does not get such a call through."""
    after = Recorder()
    call = tool_call("crm.get_customer", params_error="arguments must be an object")
    with pytest.raises(InvalidParams) as caught:
        await compose([Resolve(tools)], after)(call)
    assert not isinstance(caught.value, SchemaInvalid)
    assert caught.value.message == "arguments must be an object"
    assert after.calls == []
