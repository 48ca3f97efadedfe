"""Redacted arguments on the record, for tools whose spec says ``audit: {arguments: redacted}``.

They must never hold a value the PII rules would have scrubbed, nor one they let through to a backend
(the trail is no store of personal data), nor an argument key the input schema does not declare.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.audit.record import UNDECLARED_KEY
from gateway.audit.redaction import MAX_TEXT_CHARS, ArgumentRedactor, declared_only
from gateway.config import load_config
from gateway.pii.build import build_pii
from gateway.pii.scrubber import TRUNCATED
from tests.conftest import GatewayFactory, RunningGateway, copy_shipped_config

EMAIL, PHONE, CARD = "jane.roe@example.com", "+1 415 555 0134", "4111 1111 1111 1111"
#: Tools that opt in, and what their specs gain besides: docs.search masks phone numbers in its arguments.
OPTED_IN = {
    "docs.search": "pii:\n  arguments: {PHONE_NUMBER: mask}\n",
    "crm.update_email": "",  # its arguments allow EMAIL_ADDRESS: the CRM must receive the address
    "billing.issue_refund": "",
    "crm.get_customer": "",  # customer_id says x-pii: none
}


def opted_in_config(root: Path) -> Path:
    config_dir = copy_shipped_config(root / "config")
    for tool, extra in OPTED_IN.items():
        spec = config_dir / "tool_specs" / f"{tool}.yaml"
        spec.write_text(spec.read_text() + "\naudit: {arguments: redacted}\n" + extra)
    return config_dir


@pytest.fixture
def redacting(start_gateway: GatewayFactory, tmp_path: Path) -> RunningGateway:
    return start_gateway(opted_in_config(tmp_path))


def call(gateway: RunningGateway, request_id: str, role: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    headers = gateway.headers(role, **{"X-Request-Id": request_id})
    httpx.post(f"{gateway.url}/rpc", json=message, headers=headers, timeout=10)
    (record,) = [r for r in gateway.audit_records() if r.get("request_id") == request_id]
    return record


def trail_text(gateway: RunningGateway) -> str:
    return "".join(segment.read_text() for segment in gateway.audit_dir.glob("*.jsonl"))


def test_personal_data_is_replaced_as_the_rules_say_and_masked_where_they_mask(redacting: RunningGateway) -> None:
    record = call(redacting, "search", "support-agent", "docs.search", {"query": f"mail {EMAIL} or ring {PHONE}"})
    assert record["decision"] == "allowed"
    query = record["arguments"]["query"]
    assert query.startswith("mail <EMAIL_ADDRESS> or ring ") and query.endswith("0134")  # masked: the last four
    assert EMAIL not in trail_text(redacting) and PHONE not in trail_text(redacting)


def test_a_value_the_rules_let_through_to_the_backend_is_still_redacted_on_the_record(
    redacting: RunningGateway,
) -> None:
    # No such customer, so the demo CRM (shared by every test) is left as it is; the call still reached it.
    arguments = {"customer_id": "C9999", "email": EMAIL}
    record = call(redacting, "update", "sales-agent", "crm.update_email", arguments)
    assert record["backend_status"] == 404  # the CRM got the address (its spec allows EMAIL_ADDRESS)...
    assert record["arguments"] == {"customer_id": "C9999", "email": "<EMAIL_ADDRESS>"}  # ...the trail does not
    assert EMAIL not in trail_text(redacting)


def test_a_refused_call_has_its_redacted_arguments_too(redacting: RunningGateway) -> None:
    """Refused by policy before the scrub stage runs: what was attempted is on the record, without the card."""
    arguments = {"customer_id": "C1001", "amount": 75.5, "currency": "EUR", "reason": f"card {CARD} charged twice"}
    record = call(redacting, "refund", "support-agent", "billing.issue_refund", arguments)
    assert record["reason"] == "policy.denied"
    assert record["arguments"] == {
        "customer_id": "C1001",
        "amount": 75.5,
        "currency": "EUR",
        "reason": "card <CREDIT_CARD> charged twice",
    }
    assert "4111" not in trail_text(redacting)


def test_a_card_that_blocks_the_call_is_redacted_on_its_record(redacting: RunningGateway) -> None:
    arguments = {"customer_id": "C1001", "amount": 5, "currency": "EUR", "reason": f"card {CARD}"}
    record = call(redacting, "blocked", "finance-agent", "billing.issue_refund", arguments)
    assert record["reason"] == "pii.blocked"
    assert record["arguments"]["reason"] == "card <CREDIT_CARD>"


def test_undeclared_keys_are_counted_never_named(redacting: RunningGateway) -> None:
    arguments = {"query": "pricing", EMAIL: "x", "note": "y"}
    record = call(redacting, "undeclared", "support-agent", "docs.search", arguments)
    assert record["reason"] == "schema.invalid"
    assert record["arguments"] == {"query": "pricing", UNDECLARED_KEY: 2}
    assert EMAIL not in trail_text(redacting)


def test_a_record_says_why_it_holds_no_arguments(redacting: RunningGateway) -> None:
    record = call(redacting, "over-budget", "support-agent", "docs.search", {"query": "word " * 20_000})
    assert "arguments" not in record
    assert record["notes"]["arguments_withheld"] == "pii.over_budget"


def test_a_tool_that_does_not_opt_in_has_no_arguments_on_its_record(redacting: RunningGateway) -> None:
    record = call(redacting, "plain", "support-agent", "calendar.list_events", {})
    assert "arguments" not in record


def test_declared_keys_are_followed_through_objects_and_arrays() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            UNDECLARED_KEY: {"type": "string"},
        },
    }
    value = {
        "items": [{"sku": "A1", "owner@example.com": 1}, {"sku": "B2"}],
        "tags": {"Jane Roe": "vip"},
        UNDECLARED_KEY: "a caller cannot forge the count",
        "extra": True,
    }
    assert declared_only(value, schema) == {
        "items": [{"sku": "A1", UNDECLARED_KEY: 1}, {"sku": "B2"}],
        "tags": {UNDECLARED_KEY: 1},  # a map's keys are the caller's words
        UNDECLARED_KEY: 2,
    }


@pytest.fixture(scope="module")
def redactor(tmp_path_factory: pytest.TempPathFactory) -> ArgumentRedactor:
    config = load_config(opted_in_config(tmp_path_factory.mktemp("redactor")))
    return ArgumentRedactor(config.tools, build_pii(config))


async def test_long_strings_are_cut_after_scrubbing(redactor: ArgumentRedactor) -> None:
    text = f"{EMAIL} " + "x" * 3000
    redacted, withheld = await redactor.redact("docs.search", {"query": text}, ("support-agent",), "acme")
    assert withheld is None and redacted is not None
    assert redacted["query"] == ("<EMAIL_ADDRESS> " + "x" * 3000)[:MAX_TEXT_CHARS] + TRUNCATED


async def test_arguments_too_large_or_over_the_scan_budget_are_withheld(redactor: ArgumentRedactor) -> None:
    """Large payloads are scrubbed in a thread; a record without its arguments says why."""
    huge = {"query": "word " * 20_000}  # 100,000 characters: over pii.max_text_chars (65,536)
    assert await redactor.redact("docs.search", huge, ("support-agent",), "acme") == (None, "pii.over_budget")
    wide = {"query": "z" * 60_000}  # within the budget, and cut to MAX_TEXT_CHARS: it fits
    redacted, withheld = await redactor.redact("docs.search", wide, ("support-agent",), "acme")
    assert withheld is None and redacted is not None and len(redacted["query"]) == MAX_TEXT_CHARS + len(TRUNCATED)


async def test_arguments_whose_json_stays_over_the_bound_are_withheld(tmp_path: Path) -> None:
    config = load_config(opted_in_config(tmp_path))
    schema = {"type": "object", "properties": {"lines": {"type": "array", "items": {"type": "string"}}}}
    spec = dataclasses.replace(config.tools["docs.search"], input_schema=schema)
    redactor = ArgumentRedactor({"docs.search": spec}, build_pii(config))
    lines = {"lines": ["a" * 900] * 30}  # 27,000 characters, no string over the cut
    assert await redactor.redact("docs.search", lines, ("support-agent",), "acme") == (None, "too_large")


async def test_a_tool_that_does_not_opt_in_is_not_redacted(redactor: ArgumentRedactor) -> None:
    assert not redactor.wants("clock.now")
    assert await redactor.redact("clock.now", {"tz": "UTC"}, (), "acme") == (None, None)
