"""The validate stage: arguments that break the tool's input schema stop here, with paths and never values."""

from __future__ import annotations

import pytest

from gateway.errors import SchemaInvalid
from gateway.pipeline import compose
from gateway.stages import Validate
from gateway.tools import ToolRegistry
from tests.stages.calls import Recorder, registry, shipped, tool_call

SECRET = "C1001-but-also-jane.roe@example.com"


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> ToolRegistry:
    return registry(shipped(tmp_path_factory.mktemp("audit")))


async def test_arguments_the_schema_accepts_go_on_unchanged(tools: ToolRegistry) -> None:
    after = Recorder()
    call = tool_call("crm.get_customer", {"customer_id": "C1001"}, resolved=tools)
    assert await compose([Validate()], after)(call) is after.result
    assert after.calls == [call]


async def test_a_value_that_breaks_the_schema_is_refused_naming_its_path_not_its_value(tools: ToolRegistry) -> None:
    after = Recorder()
    with pytest.raises(SchemaInvalid) as caught:
        await compose([Validate()], after)(tool_call("crm.get_customer", {"customer_id": SECRET}, resolved=tools))
    assert [(error["path"], error["constraint"]) for error in caught.value.errors] == [("$.customer_id", "pattern")]
    assert caught.value.data == {"errors": caught.value.errors}
    assert SECRET not in repr(caught.value.errors) and SECRET not in caught.value.message
    assert after.calls == []


async def test_a_missing_required_argument_is_named(tools: ToolRegistry) -> None:
    with pytest.raises(SchemaInvalid) as caught:
        await compose([Validate()], Recorder())(tool_call("crm.get_customer", {}, resolved=tools))
    (error,) = caught.value.errors
    assert error["constraint"] == "required" and "customer_id" in error["message"]


async def test_the_refusal_is_schema_invalid_for_the_audit_trail(tools: ToolRegistry) -> None:
    with pytest.raises(SchemaInvalid) as caught:
        await compose([Validate()], Recorder())(tool_call("crm.get_customer", {"customer_id": 7}, resolved=tools))
    assert (caught.value.code, caught.value.reason) == (-32602, "schema.invalid")
