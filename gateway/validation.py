"""Compiled JSON Schema (Draft 2020-12) validators whose error reports hold only the schema's own words.

Validation runs on jsonschema-rs: about a microsecond per call instead of tens,
and its regular-expression engine does not backtrack catastrophically, so a
``pattern`` in a tool's schema cannot be turned into a denial of service by a
crafted argument. (The pure-Python validator still checks callgate's own
configuration files at load, where its messages are the better ones.)

A report lists the failing path and the constraint that failed, as written in
the schema. Everything else a caller sent may be personal data, and reports end
up in refusals, audit records and the model's context, so none of it is echoed:
not the offending value (jsonschema-rs's own messages quote it, so they are never
used), and not an object key the schema does not declare: in a path such a key is
``<undeclared>``, and ``additionalProperties: false`` names the properties that
are allowed, never the ones that were sent.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

_MAX_REPORTED = 20
_MAX_NAME = 64
_MAX_LISTED = 20
#: What stands for an object key the schema does not declare (as on audit records).
UNDECLARED = "<undeclared>"
#: Subschemas that apply at the same place in the instance as the schema holding them.
_IN_PLACE = ("allOf", "anyOf", "oneOf")
_IN_PLACE_ONE = ("then", "else", "if")
#: Enough to follow any sensible nesting of ``$ref`` and combinators; a cycle stops here.
_MAX_EXPANDED = 64


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
        unique = {(r["path"], r["constraint"], r["message"]): r for r in reports}  # several undeclared keys
        return sorted(unique.values(), key=lambda report: report["path"])[:_MAX_REPORTED]

    def _report(self, error: Any) -> dict[str, str]:
        schema_path = list(error.schema_path)
        path = _instance_path(self._schema, list(error.instance_path))
        keyword = str(error.kind.name)
        if keyword == "required":
            # The name comes from the schema's ``required`` list, not from the instance.
            message = f"missing required property '{str(error.kind.value)[:_MAX_NAME]}'"
        elif keyword in ("additionalProperties", "unevaluatedProperties"):
            message = "properties the schema does not declare are not allowed"
            declared = _declared(_at_node(self._schema, schema_path[:-1]))
            if declared:
                names = ", ".join(name[:_MAX_NAME] for name in declared[:_MAX_LISTED])
                message += f"; allowed: {names}" + (", ..." if len(declared) > _MAX_LISTED else "")
        else:
            constraint = _constraint(self._schema, schema_path)
            message = f"fails {keyword}" if constraint is None else f"must satisfy {keyword}: {constraint!r}"
        return {"path": path, "constraint": keyword, "message": message}


def _instance_path(schema: Any, instance_path: list[Any]) -> str:
    """The failing location as ``$.a[0].b``, every key the schema does not declare shown as ``<undeclared>``.

    The schema is walked down the instance path: a key is shown when a ``properties`` of the schema
    that applies there (through ``$ref`` within the schema and the combinators) names it; any other key
    (``additionalProperties``, ``patternProperties``, a reference outside the schema) is the caller's text.
    """
    nodes = _expanded(schema, [schema])
    steps = []
    for step in instance_path:
        if isinstance(step, int):
            steps.append(f"[{step}]")
            children = []
            for node in nodes:
                prefix = node.get("prefixItems")
                if isinstance(prefix, list) and step < len(prefix):
                    children.append(prefix[step])
                elif "items" in node:
                    children.append(node["items"])
        else:
            named = [node["properties"][step] for node in nodes if _names(node, step)]
            steps.append(f".{str(step)[:_MAX_NAME]}" if named else f".{UNDECLARED}")
            children = named or [
                sub
                for node in nodes
                for sub in (node.get("additionalProperties"), *_values(node.get("patternProperties")))
                if sub is not None
            ]
        nodes = _expanded(schema, children)
    return "$" + "".join(steps)


def _names(node: dict[str, Any], key: str) -> bool:
    properties = node.get("properties")
    return isinstance(properties, dict) and key in properties


def _values(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else []


def _expanded(root: Any, nodes: list[Any]) -> list[dict[str, Any]]:
    """``nodes`` and every subschema applying in their place: local ``$ref`` targets, combinator branches."""
    found: list[dict[str, Any]] = []
    pending = list(nodes)
    while pending and len(found) < _MAX_EXPANDED:
        node = pending.pop()
        if not isinstance(node, dict) or any(node is seen for seen in found):
            continue
        found.append(node)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            pending.append(_at_node(root, [_unescape(part) for part in ref[1:].split("/") if part]))
        for key in _IN_PLACE:
            if isinstance(node.get(key), list):
                pending.extend(node[key])
        pending.extend(node[key] for key in _IN_PLACE_ONE if key in node)
        pending.extend(_values(node.get("dependentSchemas")))
    return found


def _unescape(part: str) -> str | int:
    text = part.replace("~1", "/").replace("~0", "~")
    return int(text) if text.isdigit() else text


def _declared(node: Any) -> list[str]:
    properties = node.get("properties") if isinstance(node, dict) else None
    return sorted(str(name) for name in properties) if isinstance(properties, dict) else []


def _at_node(schema: Any, path: list[Any]) -> Any:
    """The schema value at ``path``, or None."""
    node = schema
    for part in path:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if not found:
            return None
        node = node[part]
    return node


def _constraint(schema: Any, path: list[Any]) -> Any:
    """The schema value at ``path`` (the constraint itself; never part of the instance)."""
    node = _at_node(schema, path)
    return node if isinstance(node, str | int | float | bool | list) and len(repr(node)) <= 200 else None
