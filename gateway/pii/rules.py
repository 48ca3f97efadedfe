"""Which action applies to which entity type, per tool, roles and direction; and where the schemas say to look.

Resolution, lowest layer first; a later layer's action for a type replaces an earlier one's:

1. ``pii.defaults`` in gateway.yaml (the shipped defaults with the file's on top);
2. the tool spec's ``pii.arguments`` / ``pii.result``;
3. ``pii.rules`` in gateway.yaml that match the tool, the caller's roles and the direction, from least
   to most specific: ``*``, then prefixes (``billing.*``; a longer prefix is more specific), then exact
   tool names; at the same tool, a rule without ``roles`` before one with; equal rules in file order.

So the security team's gateway.yaml has the last word over a tool spec, and a narrow rule over a broad
one. Everything is compiled when the configuration loads: per tool and direction the base actions and
the rules that can match; per (tool, roles, direction) the resolved :class:`Plan`, cached.

Schema annotations: a property of a tool's ``input_schema`` (arguments) or ``output_schema`` (structured
result) may carry ``x-pii: none`` (never scanned, keys and values below it included) or
``x-pii: [TYPE, ...]`` (scanned for these types only). ``properties``, ``additionalProperties`` and
``items`` are followed; anything else (``$ref``, ``anyOf``, ...) is scanned in full. Property names a
schema declares are the schema's words, not data, so they are not scanned; other keys are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.model import PiiAction, PiiDirection, PiiRule, PiiSettings, ToolSpec

#: Plans kept per (tool, roles, direction); cleared when full, since a plan is cheap to resolve again.
_MAX_PLANS = 10_000


@dataclass(frozen=True, slots=True)
class SchemaNode:
    """What one schema location says: skip it, restrict it to some types, and the nodes below it."""

    skip: bool = False
    only: frozenset[str] | None = None
    #: Declared property names (not scanned as keys) and their nodes (None: scanned in full).
    properties: Mapping[str, SchemaNode | None] = field(default_factory=dict)
    additional: SchemaNode | None = None
    items: SchemaNode | None = None


SKIP = SchemaNode(skip=True)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the scrubber does in one direction of one call: actions by type (``allow`` left out), and where."""

    actions: Mapping[str, PiiAction]
    entities: frozenset[str]
    schema: SchemaNode | None = None

    @property
    def active(self) -> bool:
        return bool(self.actions)


@dataclass(frozen=True, slots=True)
class _ToolDirection:
    base: dict[str, PiiAction]
    rules: tuple[PiiRule, ...]  # the rules that can match this tool and direction, least specific first
    schema: SchemaNode | None
    role_free: Plan | None  # the plan when no candidate rule names roles: the same for every caller


class PiiRules:
    """The resolved actions of one configuration; :meth:`plan` is the request path's lookup."""

    def __init__(self, settings: PiiSettings, tools: Mapping[str, ToolSpec]) -> None:
        ordered = [rule for _, rule in sorted(enumerate(settings.rules), key=lambda item: _specificity(*item))]
        self._compiled: dict[tuple[str, PiiDirection], _ToolDirection] = {}
        named: set[str] = set()
        for name, spec in tools.items():
            directions: tuple[tuple[PiiDirection, dict[str, Any] | None], ...] = (
                ("arguments", spec.input_schema),
                ("result", spec.output_schema),
            )
            for direction, schema in directions:
                base = dict(settings.defaults)
                if spec.pii is not None:
                    base.update(spec.pii.arguments if direction == "arguments" else spec.pii.result)
                rules = tuple(r for r in ordered if direction in r.directions and matches(r.tool, name))
                node = compile_schema(schema) if schema else None
                role_free = None if any(r.roles for r in rules) else _resolve(base, rules, (), node)
                self._compiled[(name, direction)] = _ToolDirection(base, rules, node, role_free)
                named.update(base)
                for rule in rules:
                    named.update(rule.entities)
        self._plans: dict[tuple[str, tuple[str, ...], PiiDirection], Plan] = {}
        self.entities = frozenset(named)

    def plan(self, tool: str, roles: tuple[str, ...], direction: PiiDirection) -> Plan:
        """The plan for ``tool`` called by a holder of ``roles``; an unknown tool gets the defaults."""
        compiled = self._compiled.get((tool, direction))
        if compiled is None:
            raise KeyError(tool)  # the scrub stage runs after resolve: every tool it sees is configured
        if compiled.role_free is not None:
            return compiled.role_free
        key = (tool, roles, direction)
        plan = self._plans.get(key)
        if plan is None:
            plan = _resolve(compiled.base, compiled.rules, roles, compiled.schema)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan


def _resolve(
    base: dict[str, PiiAction], rules: tuple[PiiRule, ...], roles: tuple[str, ...], schema: SchemaNode | None
) -> Plan:
    actions = dict(base)
    for rule in rules:
        if not rule.roles or any(role in rule.roles for role in roles):
            actions.update(rule.entities)
    active = {entity: action for entity, action in actions.items() if action != "allow"}
    return Plan(actions=active, entities=frozenset(active), schema=schema)


def matches(pattern: str, tool: str) -> bool:
    """``*`` matches every tool, ``billing.*`` every tool starting ``billing.``, anything else itself."""
    if pattern.endswith("*"):
        return tool.startswith(pattern[:-1])
    return pattern == tool


def _specificity(index: int, rule: PiiRule) -> tuple[int, int, int, int]:
    exact = 0 if rule.tool.endswith("*") else 1
    return (exact, len(rule.tool), 1 if rule.roles else 0, index)


def compile_schema(schema: Any) -> SchemaNode | None:
    """The annotations of one schema location, or None when it says nothing (scanned in full)."""
    if not isinstance(schema, dict):
        return None
    annotation = schema.get("x-pii")
    if annotation == "none":
        return SKIP
    only = frozenset(annotation) if isinstance(annotation, list) else None
    properties: dict[str, SchemaNode | None] = {}
    declared = schema.get("properties")
    if isinstance(declared, dict):
        properties = {str(name): compile_schema(sub) for name, sub in declared.items()}
    additional = compile_schema(schema.get("additionalProperties"))
    items = compile_schema(schema.get("items"))
    if only is None and not properties and additional is None and items is None:
        return None
    return SchemaNode(only=only, properties=properties, additional=additional, items=items)
