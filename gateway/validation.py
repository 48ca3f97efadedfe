"""Compiled JSON Schema (Draft 2020-12) validators whose error reports never echo values.

Validation runs on jsonschema-rs: about a microsecond per call instead of tens,
and its regular-expression engine does not backtrack catastrophically, so a
``pattern`` in a tool's schema cannot be turned into a denial of service by a
crafted argument. (The pure-Python validator still checks callgate's own
configuration files at load, where its messages are the better ones.)

A report lists the failing path and the constraint that failed, as written in
the schema; the offending value is left out because it may be personal data
and ends up in audit records and in the model's context.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

_MAX_REPORTED = 20
_MAX_NAME = 64


class SchemaValidator:
    """One schema, compiled once; :meth:`errors` is the per-call work."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._schema = schema
        self._validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)

    def errors(self, instance: Any) -> list[dict[str, str]]:
        """The failures, ordered by path; empty when ``instance`` is valid."""
        if self._validator.is_valid(instance):
            return []
        reports = [self._report(error) for error in self._validator.iter_errors(instance)]
        return sorted(reports, key=lambda report: report["path"])[:_MAX_REPORTED]

    def _report(self, error: Any) -> dict[str, str]:
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path)
        keyword = str(error.kind.name)
        if keyword == "required":
            message = f"missing required property '{str(error.kind.value)[:_MAX_NAME]}'"
        elif keyword in ("additionalProperties", "unevaluatedProperties"):
            names = ", ".join(sorted(str(name)[:_MAX_NAME] for name in error.kind.value))
            message = f"unexpected properties: {names}"
        else:
            constraint = _at(self._schema, list(error.schema_path))
            message = f"fails {keyword}" if constraint is None else f"must satisfy {keyword}: {constraint!r}"
        return {"path": path, "constraint": keyword, "message": message}


def _at(schema: Any, path: list[Any]) -> Any:
    """The schema value at ``path`` (the constraint itself; never part of the instance)."""
    node = schema
    for part in path:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if not found:
            return None
        node = node[part]
    return node if isinstance(node, str | int | float | bool | list) and len(repr(node)) <= 200 else None
