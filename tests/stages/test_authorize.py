"""The authorize stage: deny by default, and the deciding rule noted for the audit record on every decision."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth import Principal
from gateway.config import load_config
from gateway.errors import PolicyDenied
from gateway.pipeline import ToolCall, ToolResult, compose
from gateway.policy import PolicyEngine
from gateway.stages import Authorize
from tests.conftest import REPO_ROOT

SUPPORT = Principal("support-bot", "acme", ("support-agent",), method="api_key")
FINANCE = Principal("finance-bot", "acme", ("finance-agent",), method="api_key")
REFUND_RULE = (
    "p, finance-agent, acme, billing.issue_refund, call, allow, "
    'r.args.amount <= 500 && r.args.currency in ("EUR", "USD")'
)


@pytest.fixture(scope="module")
def policy() -> PolicyEngine:
    return PolicyEngine(load_config(REPO_ROOT, env={"CALLGATE_AUDIT_DIR": "/nonexistent"}))


def where(text: str) -> str:
    lines = (REPO_ROOT / "policies" / "policy.csv").read_text().splitlines()
    return f"policies/policy.csv:{lines.index(text) + 1}"


async def authorize(policy: PolicyEngine, principal: Principal, tool: str, arguments: dict[str, Any]) -> ToolCall:
    """Run the stage once; the call, whose notes tell what it noted (a refusal is swallowed here)."""
    call = ToolCall(request_id="r", principal=principal, tool_name=tool, arguments=arguments, transport="rpc")

    async def backend(_: ToolCall) -> ToolResult:
        return ToolResult.from_value({})

    try:
        await compose([Authorize(policy)], backend)(call)
    except PolicyDenied:
        call.notes["denied"] = True
    return call


async def test_an_allowed_call_notes_the_rule_that_allowed_it(policy: PolicyEngine) -> None:
    call = await authorize(policy, SUPPORT, "crm.get_customer", {"customer_id": "C1001"})
    assert call.notes == {"rule": where("p, support-agent, acme, crm.get_customer, call, allow")}


async def test_a_call_denied_by_a_rule_notes_that_rule(policy: PolicyEngine) -> None:
    call = await authorize(policy, SUPPORT, "billing.issue_refund", {})
    assert call.notes == {"rule": where("p, support-agent, acme, billing.*, call, deny"), "denied": True}


async def test_a_call_denied_by_default_notes_no_rule(policy: PolicyEngine) -> None:
    call = await authorize(policy, SUPPORT, "crm.update_email", {})
    assert call.notes == {"denied": True}


async def test_a_decision_on_the_arguments_names_its_rule_from_the_cache_too(policy: PolicyEngine) -> None:
    small = {"customer_id": "C1001", "amount": 100, "currency": "EUR"}
    for _ in range(2):  # the second decision comes from the cache of decisions on arguments
        assert (await authorize(policy, FINANCE, "billing.issue_refund", small)).notes == {"rule": where(REFUND_RULE)}
    large = {**small, "amount": 900}
    assert (await authorize(policy, FINANCE, "billing.issue_refund", large)).notes == {"denied": True}


def test_a_warm_ruling_is_the_cached_one(policy: PolicyEngine) -> None:
    """Naming the rule costs nothing per call: the warm path hands back the object cached with the decision."""
    first = policy.ruling(SUPPORT, "crm.get_customer", "call", {"customer_id": "C1001"})
    assert policy.ruling(SUPPORT, "crm.get_customer", "call", {"customer_id": "C1002"}) is first
    assert policy.allows(SUPPORT, "crm.get_customer", "call") is first.allowed is True
