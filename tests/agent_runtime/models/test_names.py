"""Tool names as OpenAI function names: valid, reversible, collision-free, independent of order."""

from __future__ import annotations

import re

from agent_runtime.models.names import FunctionNames

VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_dots_become_underscores_and_map_back() -> None:
    names = FunctionNames(["crm.get_customer", "docs.search"])

    assert names.function("crm.get_customer") == "crm_get_customer"
    assert names.tool("crm_get_customer") == "crm.get_customer"


def test_names_that_would_meet_get_distinct_digests_whatever_the_order() -> None:
    tools = ["crm.get_customer", "crm_get_customer", "crm/get_customer"]
    names = FunctionNames(tools)

    functions = [names.function(tool) for tool in tools]
    assert len(set(functions)) == 3
    assert all(VALID.match(f) and f.startswith("crm_get_customer_") for f in functions)
    assert [names.tool(f) for f in functions] == tools
    assert functions == [FunctionNames(reversed(tools)).function(tool) for tool in tools]


def test_a_name_too_long_is_cut_and_still_distinct() -> None:
    long_a, long_b = "a." * 40 + "x", "a." * 40 + "y"
    names = FunctionNames([long_a, long_b])

    assert names.function(long_a) != names.function(long_b)
    assert all(VALID.match(names.function(name)) for name in (long_a, long_b))
    assert names.tool(names.function(long_b)) == long_b


def test_an_unknown_function_name_passes_through_for_the_gateway_to_refuse() -> None:
    assert FunctionNames(["docs.search"]).tool("crm_delete_customer") == "crm_delete_customer"
