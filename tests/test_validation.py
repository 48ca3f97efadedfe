"""Argument validation: Draft 2020-12, failing paths reported, values never echoed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.validation import UNDECLARED, SchemaValidator

SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string", "pattern": "^C[0-9]{4}$"},
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 500},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
    },
    "required": ["customer_id"],
    "additionalProperties": False,
}


def test_valid_arguments_have_no_errors() -> None:
    assert SchemaValidator(SCHEMA).errors({"customer_id": "C1234", "amount": 10, "tags": ["a"]}) == []


def test_each_failing_path_is_reported_with_its_constraint() -> None:
    errors = SchemaValidator(SCHEMA).errors({"amount": 900, "email": "nope", "tags": ["z"], "extra": 1})
    by_path = {(e["path"], e["constraint"]) for e in errors}
    assert by_path == {
        ("$", "required"),
        ("$", "additionalProperties"),
        ("$.amount", "maximum"),
        ("$.email", "format"),
        ("$.tags[0]", "enum"),
    }
    messages = {e["constraint"]: e["message"] for e in errors}
    assert messages["required"] == "missing required property 'customer_id'"
    assert messages["additionalProperties"] == (
        "properties the schema does not declare are not allowed; allowed: amount, customer_id, email, tags"
    )
    assert messages["maximum"] == "must satisfy maximum: 500"


def test_offending_values_never_appear_in_the_report() -> None:
    secret = "jane.doe@example.com-4111111111111111"
    errors = SchemaValidator(SCHEMA).errors({"customer_id": secret, "amount": secret, "tags": [secret]})
    assert errors
    assert secret not in json.dumps(errors)


def test_catastrophic_pattern_does_not_stall_validation() -> None:
    """A pattern that backtracks exponentially in Python's re answers at once here."""
    validator = SchemaValidator({"type": "string", "pattern": "^(a+)+$"})
    assert validator.errors("a" * 5000 + "!")[0]["constraint"] == "pattern"


def test_draft_2020_12_keywords_apply() -> None:
    schema = {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}
    validator = SchemaValidator(schema)
    assert validator.errors([1]) == []
    assert [e["path"] for e in validator.errors(["x", 2])] == ["$[0]", "$[1]"]


CANARY_KEY = "jane.doe@example.com"
CANARY_VALUE = "4111 1111 1111 1111 / +1 415 555 0132"


def _leaks(errors: list[dict[str, str]]) -> bool:
    text = json.dumps(errors)
    return CANARY_KEY in text or CANARY_VALUE in text or "jane" in text


def test_a_type_error_never_quotes_the_value() -> None:
    """jsonschema-rs's own message would be '"jane.doe@example.com" is not of type "integer"'."""
    errors = SchemaValidator({"type": "object", "properties": {"n": {"type": "integer"}}}).errors({"n": CANARY_KEY})
    assert errors == [{"path": "$.n", "constraint": "type", "message": "must satisfy type: 'integer'"}]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"additionalProperties": False, "properties": {"a": {}}}, [("$", "additionalProperties")]),
        ({"unevaluatedProperties": False, "properties": {"a": {}}}, [("$", "unevaluatedProperties")]),
        ({"additionalProperties": {"type": "integer"}}, [(f"$.{UNDECLARED}", "type")]),
        ({"patternProperties": {"@": {"type": "integer"}}}, [(f"$.{UNDECLARED}", "type")]),
        ({"propertyNames": {"maxLength": 5}}, [("$", "propertyNames")]),
        (
            {"additionalProperties": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            [(f"$.{UNDECLARED}.x", "type")],
        ),
    ],
)
def test_an_undeclared_key_is_never_named(schema: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    instance: Any = {CANARY_KEY: {"x": CANARY_VALUE} if "x" in json.dumps(schema) else CANARY_VALUE}
    errors = SchemaValidator({"type": "object", **schema}).errors(instance)
    assert [(e["path"], e["constraint"]) for e in errors] == expected
    assert not _leaks(errors)


def test_declared_paths_are_shown_through_references_arrays_and_combinators() -> None:
    schema = {
        "type": "object",
        "properties": {
            "owner": {"$ref": "#/$defs/person"},
            "items": {"type": "array", "items": {"allOf": [{"properties": {"sku": {"type": "integer"}}}]}},
        },
        "$defs": {"person": {"type": "object", "properties": {"email": {"type": "string", "maxLength": 3}}}},
    }
    errors = SchemaValidator(schema).errors({"owner": {"email": CANARY_KEY}, "items": [{"sku": CANARY_VALUE}]})
    assert [(e["path"], e["constraint"]) for e in errors] == [
        ("$.items[0].sku", "type"),
        ("$.owner.email", "maxLength"),
    ]
    assert not _leaks(errors)


def test_several_undeclared_keys_failing_alike_are_reported_once() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    errors = SchemaValidator(schema).errors({f"{CANARY_KEY}.{n}": "x" for n in range(5)})
    assert errors == [{"path": f"$.{UNDECLARED}", "constraint": "type", "message": "must satisfy type: 'integer'"}]
