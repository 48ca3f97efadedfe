"""The scrub stage end to end: real gateways, real detector, the shipped and test configurations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.stages.scrub import INLINE_CHARS
from tests.conftest import GatewayFactory, RunningGateway
from tests.pii.scrub_tools import CALLS, GLOBEX_KEY, pii_config_dir, result_of

EMAIL = "ada@example.com"
CARD = "4111 1111 1111 1111"


def _call(gateway: RunningGateway, tool: str, arguments: dict[str, Any], role: str = "support-agent") -> Any:
    return gateway.rpc("tools/call", {"name": tool, "arguments": arguments}, role=role).json()


def _last_record(gateway: RunningGateway) -> dict[str, Any]:
    return gateway.audit_records()[-1]


def test_a_customer_email_is_redacted_for_sales_and_delivered_to_support(gateway: RunningGateway) -> None:
    sales = result_of(
        gateway.rpc(
            "tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}}, role="sales-agent"
        )
    )
    assert sales["structuredContent"]["email"] == "<EMAIL_ADDRESS>"
    assert EMAIL not in json.dumps(sales)
    assert sales["structuredContent"]["name"] == "Ada Lovelace"
    record = _last_record(gateway)
    assert record["pii"] == [{"direction": "result", "entity": "EMAIL_ADDRESS", "action": "redact", "count": 1}]
    support = result_of(gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}}))
    assert support["structuredContent"]["email"] == EMAIL
    assert EMAIL in support["content"][0]["text"]


def test_a_card_number_in_arguments_is_blocked_before_the_backend(gateway: RunningGateway) -> None:
    body = _call(gateway, "docs.search", {"query": f"refund to {CARD}"})
    error = body["error"]
    assert error["code"] == -31451
    assert error["data"]["reason"] == "pii.blocked"
    assert error["data"]["entities"] == ["CREDIT_CARD"]
    assert error["data"]["direction"] == "arguments"
    assert "4111" not in json.dumps(body)
    record = _last_record(gateway)
    assert (record["decision"], record["reason"], record["code"]) == ("refused", "pii.blocked", -31451)
    assert record["pii"] == [{"direction": "arguments", "entity": "CREDIT_CARD", "action": "block", "count": 1}]


def test_no_card_number_leaves_billing_unmasked(gateway: RunningGateway) -> None:
    body = _call(
        gateway, "billing.issue_refund", {"customer_id": "C1001", "amount": 10, "currency": "EUR"}, "finance-agent"
    )
    result = body["result"]
    assert result["structuredContent"]["card"] == "***************4242"
    assert "4242 4242" not in json.dumps(result)


def test_the_custom_recognizer_finds_its_entity_end_to_end(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    gateway = start_gateway(pii_config_dir(tmp_path, pii=_shipped_pii()))
    result = result_of(gateway.rpc("tools/call", {"name": "t.inbound", "arguments": {"note": "employee EMP-123456"}}))
    assert result["structuredContent"] == {"received": {"note": "employee <EMPLOYEE_ID>"}}


def _shipped_pii() -> dict[str, Any]:
    import yaml

    from tests.conftest import REPO_ROOT

    pii: dict[str, Any] = yaml.safe_load((REPO_ROOT / "policies" / "gateway.yaml").read_text())["pii"]
    return pii


def test_without_a_pii_section_the_defaults_still_scrub_both_ways(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gateway = start_gateway(pii_config_dir(tmp_path, pii=None))
    inbound = result_of(
        gateway.rpc("tools/call", {"name": "t.inbound", "arguments": {"to": EMAIL, "ip": "203.0.113.77"}})
    )
    assert inbound["structuredContent"] == {"received": {"to": "<EMAIL_ADDRESS>", "ip": "<IP_ADDRESS>"}}
    outbound = result_of(gateway.rpc("tools/call", {"name": "t.outbound", "arguments": {"ssn": "536-22-8417"}}))
    assert outbound["structuredContent"] == {"received": {"ssn": "<US_SSN>"}}


def test_a_blocked_result_is_refused_and_never_counts_against_the_breaker(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    pii = {"rules": [{"tool": "t.outbound", "direction": "result", "entities": {"CREDIT_CARD": "block"}}]}
    gateway = start_gateway(pii_config_dir(tmp_path, pii=pii))
    before = CALLS.get("echo", 0)
    for _ in range(7):  # more than the default failure_threshold (5)
        body = _call(gateway, "t.outbound", {"card": 4111111111111111})
        assert body["error"]["code"] == -31451, body
        assert body["error"]["data"] == {"reason": "pii.blocked", "entities": ["CREDIT_CARD"], "direction": "result"}
    assert CALLS["echo"] == before + 7  # every call reached the backend: the circuit never opened
    assert _last_record(gateway)["reason"] == "pii.blocked"


def test_an_argument_block_never_calls_the_backend(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    pii = {"rules": [{"tool": "t.*", "direction": "arguments", "entities": {"US_SSN": "block"}}]}
    gateway = start_gateway(pii_config_dir(tmp_path, pii=pii))
    before = CALLS.get("echo", 0)
    body = _call(gateway, "t.inbound", {"nested": [{"ssn": "536-22-8417"}]})
    assert body["error"]["data"]["entities"] == ["US_SSN"]
    assert CALLS.get("echo", 0) == before


def test_hash_pseudonyms_are_stable_within_a_tenant_and_differ_across_tenants(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    pii = {"defaults": {"EMAIL_ADDRESS": "hash"}}
    gateway = start_gateway(pii_config_dir(tmp_path, pii=pii), CALLGATE_PII_KEY="cd" * 32)

    def pseudonym(key: str) -> str:
        response = httpx.post(
            f"{gateway.url}/rpc",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "t.inbound", "arguments": {"to": EMAIL}},
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        value: str = result_of(response)["structuredContent"]["received"]["to"]
        assert re.fullmatch(r"<EMAIL_ADDRESS:[0-9a-f]{8}>", value), value
        return value

    acme = pseudonym(gateway.keys["support-agent"])
    assert pseudonym(gateway.keys["sales-agent"]) == acme  # same tenant, another agent
    assert pseudonym(GLOBEX_KEY) != acme


@pytest.mark.parametrize("over_budget", ["refuse", "truncate"])
def test_text_over_the_budget_is_refused_or_truncated_never_passed(
    start_gateway: GatewayFactory, tmp_path: Path, over_budget: str
) -> None:
    pii = {"max_text_chars": 2048, "over_budget": over_budget}
    gateway = start_gateway(pii_config_dir(tmp_path, pii=pii))
    text = "x" * 3000 + f" {EMAIL}"
    body = _call(gateway, "t.inbound", {"text": text})
    record = _last_record(gateway)
    if over_budget == "refuse":
        assert body["error"]["code"] == -31451
        assert body["error"]["data"] == {"reason": "pii.over_budget", "direction": "arguments", "max_text_chars": 2048}
        assert record["reason"] == "pii.over_budget"
    else:
        received = body["result"]["structuredContent"]["received"]["text"]
        assert received.endswith("[truncated]") and EMAIL not in received
        assert len(received) < 2100
        assert record["notes"]["pii_truncated_arguments"] is True


def test_large_payloads_are_scrubbed_in_a_thread_with_the_same_outcome(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gateway = start_gateway(pii_config_dir(tmp_path, pii={}))
    big = "word " * (INLINE_CHARS // 5 + 100)
    assert len(big) > INLINE_CHARS
    inbound = result_of(gateway.rpc("tools/call", {"name": "t.inbound", "arguments": {"a": big + EMAIL}}))
    assert inbound["structuredContent"]["received"]["a"] == big + "<EMAIL_ADDRESS>"
    outbound = result_of(gateway.rpc("tools/call", {"name": "t.outbound", "arguments": {"a": EMAIL + " " + big}}))
    assert outbound["structuredContent"]["received"]["a"] == "<EMAIL_ADDRESS> " + big
    assert EMAIL not in outbound["content"][0]["text"]


def test_findings_are_counted_in_metrics_by_type_direction_and_action(gateway: RunningGateway) -> None:
    gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1002"}}, role="sales-agent")
    _call(gateway, "docs.search", {"query": f"card {CARD}"})
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert 'callgate_pii_findings_total{action="redact",direction="result",entity="EMAIL_ADDRESS"} 1.0' in metrics
    assert 'callgate_pii_findings_total{action="block",direction="arguments",entity="CREDIT_CARD"} 1.0' in metrics
    assert "grace@example.com" not in metrics and "4111" not in metrics
