"""Canary values of every type, seeded into arguments and backend results of allowed, refused and failing
calls: none may appear in the audit files, the logs, /metrics or any error."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory, RunningGateway
from tests.pii.scrub_tools import ALLOW_ALL, pii_config_dir

CANARIES = {
    "EMAIL_ADDRESS": "canary.zq7x@example.com",
    "PHONE_NUMBER": "+1 415 555 0132",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "US_SSN": "536-22-8417",
    "IBAN_CODE": "DE89370400440532013000",
    "IP_ADDRESS": "203.0.113.77",
    "EMPLOYEE_ID": "EMP-424242",
}
#: The spellings a leak could take: as sent, without separators, and the card as a JSON number.
NEEDLES = sorted({*CANARIES.values(), *(v.replace(" ", "").replace("-", "") for v in CANARIES.values())})
CARD_NUMBER = 4111111111111111


def _seeded() -> dict[str, Any]:
    """Every canary as a value, nested, as a nested object key, inside JSON text, and the card as a number."""
    text = " and ".join(CANARIES.values())
    return {
        "note": f"customer data: {text}",
        "nested": {"list": [{"v": value} for value in CANARIES.values()]},
        "by_key": {value: "x" for value in CANARIES.values()},
        "json_text": json.dumps({"inner": list(CANARIES.values())}),
        "card_number": CARD_NUMBER,
    }


def _tools() -> list[dict[str, Any]]:
    echo_http = {
        "name": "t.echo_http",
        "description": "the demo backends' echo over HTTP",
        "input_schema": {"type": "object"},
        "backend": {"type": "http", "method": "POST", "url": "${CALLGATE_DEMO_BACKEND_URL}/echo/tickets"},
        "pii": {"arguments": ALLOW_ALL},
    }
    broken_http = {
        "name": "t.broken_http",
        "description": "a backend that fails with 500",
        "input_schema": {"type": "object"},
        "backend": {"type": "http", "method": "POST", "url": "${CALLGATE_DEMO_BACKEND_URL}/reports/broken"},
        "pii": {"arguments": ALLOW_ALL},
    }
    return [echo_http, broken_http]


@pytest.fixture
def canary_gateway(start_gateway: GatewayFactory, tmp_path: Path) -> RunningGateway:
    import yaml

    from tests.conftest import REPO_ROOT

    pii = yaml.safe_load((REPO_ROOT / "policies" / "gateway.yaml").read_text())["pii"]
    # The shipped "no card number in any arguments" rule would refuse every seeded call: keep it for one tool.
    pii["rules"] = [
        *(rule for rule in pii["rules"] if rule["tool"] != "*"),
        {"tool": "docs.search", "direction": "arguments", "entities": {"CREDIT_CARD": "block"}},
        {"tool": "t.blocked", "direction": "arguments", "entities": {"US_SSN": "block"}},
        {"tool": "t.outbound", "direction": "result", "roles": ["sales-agent"], "entities": {"IBAN_CODE": "block"}},
    ]
    blocked = {
        "name": "t.blocked",
        "description": "refuses social security numbers",
        "input_schema": {"type": "object"},
        "backend": {"type": "python", "callable": "tests.pii.scrub_tools:echo"},
    }
    return start_gateway(pii_config_dir(tmp_path / "config", pii=pii, tools=[*_tools(), blocked]))


def test_no_canary_appears_in_audit_logs_metrics_or_errors(
    canary_gateway: RunningGateway, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = canary_gateway
    seen: list[str] = []  # every response body an agent got

    def call(tool: str, arguments: dict[str, Any], role: str = "support-agent") -> dict[str, Any]:
        response = gateway.rpc("tools/call", {"name": tool, "arguments": arguments}, role=role)
        seen.append(response.text)
        body: dict[str, Any] = response.json()
        return body

    outcomes = {
        # allowed: the arguments direction (t.inbound shows what the backend got) and the result direction
        "inbound": call("t.inbound", _seeded()),
        "outbound": call("t.outbound", _seeded()),
        "outbound as sales": call("t.outbound", {"note": "no iban here " + CANARIES["EMAIL_ADDRESS"]}, "sales-agent"),
        "text": call("t.text", {"text": "plain text: " + " ".join(CANARIES.values())}),
        "http": call("t.echo_http", _seeded()),
        # refused: a blocked type each way, the card rule, policy, schema, over budget
        "blocked arguments": call("t.blocked", _seeded()),
        "blocked result": call("t.outbound", {"iban": CANARIES["IBAN_CODE"]}, "sales-agent"),
        "card in a search": call("docs.search", {"query": CANARIES["CREDIT_CARD"]}),
        "policy": call("billing.issue_refund", {"customer_id": "C1001", "reason": CANARIES["EMAIL_ADDRESS"]}),
        "schema": call("crm.get_customer", {"customer_id": CANARIES["EMAIL_ADDRESS"]}),
        "budget": call("t.inbound", {"big": "x" * 70_000 + CANARIES["EMAIL_ADDRESS"]}),
        # failing: an in-process tool raising with the values in its message, an HTTP backend failing
        "python failure": call("t.fail", {"message": " ".join(CANARIES.values())}),
        "http failure": call("t.broken_http", _seeded()),
    }
    refused = ["blocked arguments", "blocked result", "card in a search", "policy", "schema", "budget"]
    for name in [*refused, "python failure", "http failure"]:
        assert "error" in outcomes[name] or outcomes[name]["result"]["isError"], (name, outcomes[name])
    for name in ("inbound", "outbound", "text", "http"):
        assert "result" in outcomes[name], (name, outcomes[name])
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert "callgate_pii_findings_total" in metrics
    audit = "\n".join(path.read_text() for path in sorted(gateway.audit_dir.glob("*.jsonl")))
    assert audit.count('"event": "tools/call"') + audit.count('"event":"tools/call"') >= len(outcomes)
    captured = capfd.readouterr()
    places = {
        "audit": audit,
        "logs": caplog.text + captured.out + captured.err,
        "metrics": metrics,
        "responses": "\n".join(seen),
    }
    leaks = [(where, needle) for where, text in places.items() for needle in NEEDLES if needle in text]
    assert not leaks
    assert str(CARD_NUMBER) not in places["audit"] + places["responses"]


def test_no_canary_appears_in_the_audit_file_as_a_top_level_argument_key(canary_gateway: RunningGateway) -> None:
    canary_gateway.rpc("tools/call", {"name": "t.inbound", "arguments": {CANARIES["EMAIL_ADDRESS"]: 1}})
    audit = "\n".join(path.read_text() for path in sorted(canary_gateway.audit_dir.glob("*.jsonl")))
    assert CANARIES["EMAIL_ADDRESS"] not in audit


def test_no_canary_key_or_value_appears_in_a_schema_refusal(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    """Undeclared argument keys are the caller's text: refusals name declared paths and constraints only."""
    from tests.test_mcp import open_session, post, request

    typed = {
        "name": "t.typed",
        "description": "arguments with types",
        "input_schema": {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "labels": {"type": "object", "additionalProperties": {"type": "integer"}},
                "owner": {"type": "object", "properties": {"email": {"type": "string", "maxLength": 5}}},
            },
            "additionalProperties": False,
        },
        "backend": {"type": "python", "callable": "tests.pii.scrub_tools:echo"},
    }
    gateway = start_gateway(pii_config_dir(tmp_path / "config", tools=[typed]))
    arguments: dict[str, Any] = {
        "count": CANARIES["EMAIL_ADDRESS"],
        "labels": {CANARIES["IBAN_CODE"]: CANARIES["PHONE_NUMBER"]},
        "owner": {"email": CANARIES["EMAIL_ADDRESS"]},
        CANARIES["CREDIT_CARD"]: CANARIES["US_SSN"],
    }
    params = {"name": "t.typed", "arguments": arguments}
    rpc = gateway.rpc("tools/call", params)
    session = open_session(gateway)
    mcp = post(gateway, request("tools/call", params), session=session, **{"MCP-Protocol-Version": "2025-11-25"})
    error = rpc.json()["error"]
    assert error["code"] == -32602
    assert {(e["path"], e["constraint"]) for e in error["data"]["errors"]} == {
        ("$", "additionalProperties"),
        ("$.count", "type"),
        ("$.labels.<undeclared>", "type"),
        ("$.owner.email", "maxLength"),
    }
    assert "allowed: count, labels, owner" in json.dumps(error)
    assert mcp.json()["result"]["isError"] is True
    audit = "\n".join(path.read_text() for path in sorted(gateway.audit_dir.glob("*.jsonl")))
    places = {"rpc": rpc.text, "mcp": mcp.text, "audit": audit}
    leaks = [(where, needle) for where, text in places.items() for needle in NEEDLES if needle in text]
    assert not leaks
