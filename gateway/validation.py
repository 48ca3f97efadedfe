"""Compiled JSON Schema (Draft 2020-12) validators whose error reports never echo values.

A report lists the failing path and the constraint that failed, as written in
the schema; the offending value is left out because it may be personal data
and ends up in audit records and in the model's context.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

_MAX_REPORTED = 20
_SHOWN_CONSTRAINTS = {
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
}


class SchemaValidator:
    """One schema, compiled once; :meth:`errors` is the per-call work."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = Draft202012Validator(schema, format_checker=FormatChecker())

    def errors(self, instance: Any) -> list[dict[str, str]]:
        """The failures, ordered by path; empty when ``instance`` is valid."""
        found = sorted(self._validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
        return [_report(error) for error in found[:_MAX_REPORTED]]


def _report(error: ValidationError) -> dict[str, str]:
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a property"
        message = f"missing required property '{missing}'"
    elif keyword == "additionalProperties":
        message = "unexpected properties: " + ", ".join(sorted(_extra_keys(error)))
    elif keyword in _SHOWN_CONSTRAINTS:
        message = f"must satisfy {keyword}: {error.validator_value!r}"
    else:
        message = f"fails the {keyword} constraint"
    return {"path": path, "constraint": keyword, "message": message}


def _extra_keys(error: ValidationError) -> list[str]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    schema = error.schema if isinstance(error.schema, dict) else {}
    declared = set(schema.get("properties", {}))
    return [str(key)[:64] for key in instance if key not in declared]
