"""The scrubber over real detector findings: every type, everywhere a value can hide, every action, the budget."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.config.model import DEFAULT_PII_ACTIONS, PiiAction
from gateway.jsoncodec import dumps
from gateway.pii.actions import Replacer
from gateway.pii.detector import Detector
from gateway.pii.rules import Plan, compile_schema
from gateway.pii.scrubber import TRUNCATED, OverBudget, Scrubber

#: One value of each shipped type, each found on its own (no context needed).
SAMPLES = {
    "EMAIL_ADDRESS": "ada.lovelace@example.com",
    "PHONE_NUMBER": "+1 415 555 0132",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "US_SSN": "536-22-8417",
    "IBAN_CODE": "DE89370400440532013000",
    "IP_ADDRESS": "203.0.113.77",
}
DETECTOR = Detector(list(DEFAULT_PII_ACTIONS))


def _scrubber(max_text_chars: int = 65536, truncate: bool = False, mask_keep: int = 4) -> Scrubber:
    return Scrubber(
        DETECTOR, Replacer(mask_keep=mask_keep, key=bytes(32)), max_text_chars=max_text_chars, truncate=truncate
    )


def _plan(action: PiiAction = "redact", schema: dict[str, Any] | None = None, **overrides: PiiAction) -> Plan:
    actions: dict[str, PiiAction] = {entity: action for entity in DEFAULT_PII_ACTIONS}
    actions.update(overrides)
    active = {k: v for k, v in actions.items() if v != "allow"}
    return Plan(actions=active, entities=frozenset(active), schema=compile_schema(schema) if schema else None)


def _args(value: dict[str, Any], plan: Plan | None = None, **kwargs: Any) -> dict[str, Any]:
    scrubbed, _ = _scrubber(**kwargs).arguments(value, plan or _plan(), "acme")
    return scrubbed


def _result(structured: dict[str, Any], plan: Plan | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    content = [{"type": "text", "text": dumps(structured).decode()}]
    new_content, new_structured, _ = _scrubber().result(content, structured, plan or _plan(), "acme")
    assert new_structured is not None
    return new_content, new_structured


@pytest.mark.parametrize("entity", list(SAMPLES))
def test_each_type_is_redacted_in_argument_text(entity: str) -> None:
    value = SAMPLES[entity]
    assert _args({"note": f"see {value} please"}) == {"note": f"see <{entity}> please"}


@pytest.mark.parametrize("entity", list(SAMPLES))
def test_each_type_is_redacted_in_nested_structures_object_keys_and_json_text(entity: str) -> None:
    value = SAMPLES[entity]
    scrubbed = _args(
        {
            "deep": {"list": [{"v": value}]},
            "keys": {value: "known"},
            "json_text": json.dumps({"inner": [value], "text": json.dumps({"deeper": value})}),
        }
    )
    flat = json.dumps(scrubbed)
    assert value not in flat
    assert scrubbed["deep"]["list"][0]["v"] == f"<{entity}>"
    assert scrubbed["keys"] == {f"<{entity}>": "known"}
    inner = json.loads(scrubbed["json_text"])
    assert inner["inner"] == [f"<{entity}>"]
    assert json.loads(inner["text"]) == {"deeper": f"<{entity}>"}


@pytest.mark.parametrize("entity", list(SAMPLES))
def test_each_type_is_redacted_in_a_result_text_and_structured_content(entity: str) -> None:
    value = SAMPLES[entity]
    content, structured = _result({"record": {"field": value}, value: 1})
    assert structured == {"record": {"field": f"<{entity}>"}, f"<{entity}>": 1}
    assert json.loads(content[0]["text"]) == structured


def test_a_result_text_that_is_not_its_structured_content_is_scanned_on_its_own() -> None:
    content = [
        {"type": "text", "text": f"Customer wrote from {SAMPLES['EMAIL_ADDRESS']}"},
        {"type": "text", "text": json.dumps({"ip": SAMPLES["IP_ADDRESS"]}, indent=2)},
        {"type": "resource", "resource": {"uri": "file:///a", "mimeType": "text/plain", "text": SAMPLES["US_SSN"]}},
        {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
    ]
    new_content, structured, tally = _scrubber().result(content, None, _plan(), "acme")
    assert structured is None
    assert new_content[0]["text"] == "Customer wrote from <EMAIL_ADDRESS>"
    assert json.loads(new_content[1]["text"]) == {"ip": "<IP_ADDRESS>"}
    assert new_content[2]["resource"]["text"] == "<US_SSN>"
    assert new_content[3] is content[3]
    assert tally.counts == {("EMAIL_ADDRESS", "redact"): 1, ("IP_ADDRESS", "redact"): 1, ("US_SSN", "redact"): 1}


@pytest.mark.parametrize("number", [4111111111111111, 4111111111111111.0])
def test_a_card_number_sent_as_a_json_number_is_still_a_card_number(number: float) -> None:
    assert _args({"card": number, "amount": 120, "id": 123456789}) == {
        "card": "<CREDIT_CARD>",
        "amount": 120,
        "id": 123456789,
    }
    assert _args({"card": number}, _plan("mask")) == {"card": "************1111"}


def test_mask_keeps_the_last_characters_and_hash_gives_a_pseudonym() -> None:
    card = SAMPLES["CREDIT_CARD"]
    assert _args({"c": card}, _plan("mask")) == {"c": "***************1111"}
    hashed = _args({"c": card, "again": card.replace(" ", "")}, _plan("hash"))
    assert hashed["c"].startswith("<CREDIT_CARD:") and hashed["c"] == hashed["again"]
    assert _args({"c": card}, _plan("hash"), mask_keep=2)["c"] == hashed["c"]


def test_block_tallies_the_type_and_allow_leaves_the_value() -> None:
    arguments = {"to": SAMPLES["EMAIL_ADDRESS"], "card": SAMPLES["CREDIT_CARD"]}
    scrubbed, tally = _scrubber().arguments(arguments, _plan(CREDIT_CARD="block", EMAIL_ADDRESS="allow"), "acme")
    assert tally.blocked == {"CREDIT_CARD"}
    assert tally.counts == {("CREDIT_CARD", "block"): 1}
    assert scrubbed["to"] == SAMPLES["EMAIL_ADDRESS"]


def test_two_keys_redacted_alike_keep_both_values() -> None:
    scrubbed = _args({"a@example.com": 1, "b@example.com": 2})
    assert scrubbed == {"<EMAIL_ADDRESS>": 1, "<EMAIL_ADDRESS>#2": 2}


def test_x_pii_none_skips_a_field_and_a_list_restricts_it() -> None:
    schema = {
        "type": "object",
        "properties": {
            "internal": {"type": "string", "x-pii": "none"},
            "contact": {"type": "string", "x-pii": ["EMAIL_ADDRESS"]},
        },
    }
    text = f"{SAMPLES['EMAIL_ADDRESS']} {SAMPLES['PHONE_NUMBER']}"
    scrubbed = _args({"internal": text, "contact": text, "other": text}, _plan(schema=schema))
    assert scrubbed["internal"] == text
    assert scrubbed["contact"] == f"<EMAIL_ADDRESS> {SAMPLES['PHONE_NUMBER']}"
    assert scrubbed["other"] == "<EMAIL_ADDRESS> <PHONE_NUMBER>"


def test_unchanged_values_are_handed_back_as_they_came() -> None:
    arguments = {"customer_id": "C1001", "nested": {"list": [1, "two"]}}
    scrubbed, tally = _scrubber().arguments(arguments, _plan(), "acme")
    assert scrubbed is arguments
    assert not tally.counts


def test_text_over_the_budget_is_refused() -> None:
    with pytest.raises(OverBudget):
        _scrubber(max_text_chars=1024).arguments({"a": "x" * 600, "b": "y" * 600}, _plan(), "acme")


def test_text_over_the_budget_is_truncated_and_what_is_left_still_scanned() -> None:
    email = SAMPLES["EMAIL_ADDRESS"]
    arguments = {"a": f"{email} " + "x" * 900, "b": "y" * 100 + f" {email} " + "z" * 200, "c": email, email: 1}
    scrubbed, tally = _scrubber(max_text_chars=1024, truncate=True).arguments(arguments, _plan(), "acme")
    assert tally.truncated
    assert scrubbed["a"].startswith("<EMAIL_ADDRESS> ")
    assert scrubbed["b"].endswith(TRUNCATED) and email not in scrubbed["b"]
    assert email not in json.dumps(scrubbed)
    assert len(json.dumps(scrubbed)) < 1024 + 200


def test_many_short_strings_are_proven_clean_together_and_an_entity_among_them_is_still_found() -> None:
    """The joined pre-scan of short strings skips only the parts no finding overlaps."""
    arguments: dict[str, Any] = {f"field_{i}": f"value {i}" for i in range(20)}
    arguments["field_7"] = SAMPLES["IP_ADDRESS"]
    arguments[SAMPLES["EMAIL_ADDRESS"]] = "key"
    arguments["number"] = 4111111111111111
    scrubbed, tally = _scrubber().arguments(arguments, _plan(), "acme")
    assert scrubbed["field_7"] == "<IP_ADDRESS>"
    assert scrubbed["<EMAIL_ADDRESS>"] == "key"
    assert scrubbed["number"] == "<CREDIT_CARD>"
    assert scrubbed["field_3"] == "value 3"
    assert sum(tally.counts.values()) == 3


def test_a_result_echoing_scrubbed_arguments_is_not_scanned_twice_but_stays_scrubbed() -> None:
    scrubber = _scrubber()
    text = "please write to " + SAMPLES["EMAIL_ADDRESS"] + " about the invoice " + "and more words " * 5
    arguments, tally = scrubber.arguments({"body": text}, _plan(), "acme")
    assert arguments["body"] in tally.clean
    structured = {"ticket": arguments, "note": "call " + SAMPLES["PHONE_NUMBER"]}
    content = [{"type": "text", "text": dumps(structured).decode()}]
    _, scrubbed, result_tally = scrubber.result(content, structured, _plan(), "acme", tally.clean)
    assert scrubbed == {"ticket": {"body": arguments["body"]}, "note": "call <PHONE_NUMBER>"}
    assert result_tally.counts == {("PHONE_NUMBER", "redact"): 1}
