"""``callgate policy check``: every file loads, and no rule is one that can never match.

Loading checks the files themselves (schemas, the Casbin model, the column
count and condition syntax of every rule). Then each rule of ``policy.csv`` is
checked against the rest of the configuration:

- its tool must name a tool spec, or be a pattern (``billing.*``, read as
  Casbin's keyMatch reads it, as the shipped model does) that matches one;
- its action must be ``call`` or ``approve`` (who may decide waiting calls), the
  ones the gateway asks about, and its effect ``allow``, ``deny`` or ``approve``
  (an ``approve`` effect only on ``call``: it makes calls wait for a human);
- the calls an ``approve`` rule parks (and those of a tool whose spec or risk
  requires approval) must be approvable: some principal must hold ``approve``
  on the tool in the rule's tenant, or they can only ever expire;
- its role or subject must be held by some principal in its tenant (directly
  or through ``g`` lines; in a model with roles a subject is ``user:NAME``, see
  subjects.py); with JWT issuers configured this is a warning, since a token
  may carry a role no API key holds;
- its condition must read only arguments the tool's input schema defines,
  compare them only with constants of the type the schema gives them, and
  not rely on ``&&``, ``||`` or ``!`` inside a string constant (Casbin rewrites them).

The same holds for ``rate_limits`` in ``gateway.yaml``: a role or tenant that
nobody holds is most likely a typo, and the agents it was meant for would then
get the ``"*"`` limit, or none.

And each JWT issuer should bound what its tokens may claim: one without
``allowed_roles``, or without ``tenant``/``tenants``, is warned about, since
whoever holds its signing key can then grant any role in any tenant.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gateway.config import Config, ConfigError, ToolSpec, load_config
from gateway.config.files import line_of
from gateway.pii.build import build_pii
from gateway.policy import casbin_internals
from gateway.policy.approval import APPROVE_ACTION
from gateway.policy.engine import CALL, PolicyEngine
from gateway.policy.matcher import APPROVE
from gateway.policy.rules import PolicyLine
from gateway.policy.subjects import subject_name

_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
#: What Casbin rewrites everywhere in a matcher, quoted or not (CoreEnforcer._get_expression).
_REWRITTEN = re.compile(r"&&|\|\||!(?!=)")
_JSON_TYPES: dict[type, set[str]] = {
    str: {"string"},
    bool: {"boolean"},
    int: {"integer", "number"},
    float: {"number", "integer"},  # 60.5 compares with an integer as Python compares them
    type(None): {"null"},
}


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Literal["error", "warning"]
    file: Path
    line: int | None
    message: str


def check_config(config_dir: Path) -> list[Finding]:
    """Every problem in the configuration under ``config_dir``: load errors first, then rule checks."""
    try:
        config = load_config(config_dir)
        engine = PolicyEngine(config)
        build_pii(config)  # custom recognizers, entity types, the NER model: as the gateway builds them
    except ConfigError as exc:
        where = f" at {exc.json_path}" if exc.json_path and exc.json_path != "$" else ""
        return [Finding("error", exc.file, exc.line, exc.detail + where)]
    return list(check_rules(config, engine))


def check_rules(config: Config, engine: PolicyEngine) -> Iterator[Finding]:
    """The problems of each ``p`` rule of a loaded policy (see the module's docstring)."""
    names = engine.matcher.policy_fields
    holders = _holders(config, engine.lines, engine.matcher.has_roles)
    # In a model with roles a bare name is a role: a rule for one subject must say user:NAME.
    subjects = {entry.subject for entry in config.gateway.api_keys} if engine.matcher.has_roles else set()
    for rule in engine.lines:
        if rule.key != "p":
            continue
        fields = dict(zip(names, rule.values, strict=True))
        tools = _tools_named(config, fields["obj"]) if "obj" in fields else list(config.tools.values())
        if "obj" in fields and not tools:
            yield _error(rule, f"no tool is named {fields['obj']!r}: the rule can never match")
        action = fields.get("act")
        if action is not None and action not in (CALL, APPROVE_ACTION) and "*" not in action:
            asked = f"{CALL!r} and {APPROVE_ACTION!r}"
            yield _error(rule, f"the action is {action!r}, but callgate asks only about {asked}")
        effect = fields.get("eft")
        if effect is not None and effect not in _EFFECTS:
            known = ", ".join(_EFFECTS)
            yield _error(rule, f"the effect is {effect!r}, which is none of {known}: the rule decides nothing")
        if effect == APPROVE and action != CALL:
            yield _error(rule, f"an {APPROVE} effect makes calls wait for a human: its action must be {CALL!r}")
        if "sub" in fields:
            found = list(_check_holder(rule, fields["sub"], fields.get("dom"), holders, bool(config.gateway.jwt)))
            if found and fields["sub"] in subjects:
                hint = f"; {fields['sub']!r} is a subject, and a rule for it names it {subject_name(fields['sub'])!r}"
                found = [Finding(item.severity, item.file, item.line, item.message + hint) for item in found]
            yield from found
        condition = fields.get("cond", "")
        if condition and tools:
            yield from _check_condition(rule, condition, tools)
    yield from _check_approvers(config, engine, holders)
    yield from _check_rate_limits(config, holders)
    yield from _check_issuers(config)


_EFFECTS = ("allow", "deny", APPROVE)


def _check_approvers(config: Config, engine: PolicyEngine, holders: set[tuple[str, str]]) -> Iterator[Finding]:
    """Calls that wait for a human must have one who may decide them: a held role with ``approve`` on the tool."""
    names = engine.matcher.policy_fields
    rules = [(rule, dict(zip(names, rule.values, strict=True))) for rule in engine.lines if rule.key == "p"]
    grants = [f for _, f in rules if f.get("act") == APPROVE_ACTION and f.get("eft", "allow") == "allow"]
    tokens = bool(config.gateway.jwt)

    def approvable(tool: str, tenant: str | None) -> bool:
        for grant in grants:
            where = grant.get("dom")
            if not casbin_internals.key_match(tool, grant.get("obj", tool)):
                continue
            if tenant not in (None, "*") and where not in (None, "*", tenant):
                continue
            name = grant.get("sub")
            if name is None or any(held == name and where in (None, "*", at) for held, at in holders):
                return True
        return False

    def finding(file: Path, line: int | None, tool: str, tenant: str | None) -> Finding:
        within = f" in tenant {tenant!r}" if tenant not in (None, "*") else ""
        message = (
            f"the calls to {tool} waiting for approval can never be approved: no principal holds a role with "
            f"the {APPROVE_ACTION} action on it{within} (p, ROLE, TENANT, {tool}, {APPROVE_ACTION}, allow)"
        )
        if tokens:
            return Finding("warning", file, line, message + " (a JWT may carry it)")
        return Finding("error", file, line, message)

    for rule, fields in rules:
        if fields.get("eft") != APPROVE:
            continue
        for spec in _tools_named(config, fields["obj"]) if "obj" in fields else config.tools.values():
            if not approvable(spec.name, fields.get("dom")):
                yield finding(rule.file, rule.line, spec.name, fields.get("dom"))
    for spec in config.tools.values():
        if (spec.approval == "required" or spec.risk in config.gateway.approvals.require_for_risk) and not approvable(
            spec.name, None
        ):
            line = line_of(spec.source, ["approval" if spec.approval == "required" else "risk"])
            yield finding(spec.source, line, spec.name, None)


def _check_issuers(config: Config) -> Iterator[Finding]:
    path = config.config_dir / "policies" / "gateway.yaml"
    for index, issuer in enumerate(config.gateway.jwt):
        line = line_of(path, ["principals", "jwt", index, "issuer"])
        if issuer.allowed_roles is None:
            message = f"JWT issuer {issuer.issuer!r} has no allowed_roles: its tokens may claim any role"
            yield Finding("warning", path, line, message)
        if not issuer.restricts_tenants:
            message = f"JWT issuer {issuer.issuer!r} has no tenant or tenants: its tokens may claim any tenant"
            yield Finding("warning", path, line, message)


def _check_rate_limits(config: Config, holders: set[tuple[str, str]]) -> Iterator[Finding]:
    path = config.config_dir / "policies" / "gateway.yaml"
    tokens = bool(config.gateway.jwt)
    limits = config.gateway.rate_limits
    held_names = {name for name, _ in holders}
    held_tenants = {tenant for _, tenant in holders}
    unheld = [("roles", role) for role in limits.roles if role != "*" and role not in held_names]
    unheld += [("tenants", tenant) for tenant in limits.tenants if tenant != "*" and tenant not in held_tenants]
    for section, name in unheld:
        line = line_of(path, ["rate_limits", section, name])
        kind = section.rstrip("s")
        if tokens:
            message = f"rate_limits.{section} names {kind} {name!r}, which no API key holds (a JWT may carry it)"
            yield Finding("warning", path, line, message)
        else:
            yield Finding("error", path, line, f"rate_limits.{section} names {kind} {name!r}, which no principal holds")


def _tools_named(config: Config, pattern: str) -> list[ToolSpec]:
    return [spec for name, spec in config.tools.items() if casbin_internals.key_match(name, pattern)]


def _holders(config: Config, lines: list[PolicyLine], has_roles: bool) -> set[tuple[str, str]]:
    """Every (name, tenant) some principal holds: its subject (``user:NAME`` in a model with roles), its roles,
    and what those inherit."""
    named = subject_name if has_roles else str
    held = {(named(entry.subject), entry.tenant) for entry in config.gateway.api_keys}
    held |= {(role, entry.tenant) for entry in config.gateway.api_keys for role in entry.roles}
    links = [rule.values for rule in lines if rule.key == "g"]
    changed = True
    while changed:  # the closure over role inheritance; the policy is small enough for the simple loop
        changed = False
        for link in links:
            for name, tenant in list(held):
                inherits = name == link[0] and (len(link) < 3 or link[2] in (tenant, "*"))
                if inherits and (link[1], tenant) not in held:
                    held.add((link[1], tenant))
                    changed = True
    return held


def _check_holder(
    rule: PolicyLine, name: str, tenant: str | None, holders: set[tuple[str, str]], tokens: bool
) -> Iterator[Finding]:
    if any(held == name and (tenant in (None, "*") or where == tenant) for held, where in holders):
        return
    within = f" in tenant {tenant!r}" if tenant not in (None, "*") else ""
    if tokens:
        message = f"no API key holds {name!r}{within} (a JWT may carry it)"
        yield Finding("warning", rule.file, rule.line, message)
    else:
        yield _error(rule, f"no principal holds {name!r}{within}: the rule can never match")


def _check_condition(rule: PolicyLine, condition: str, tools: list[ToolSpec]) -> Iterator[Finding]:
    for constant in _QUOTED.findall(condition):
        if _REWRITTEN.search(constant):
            yield _error(rule, f"Casbin rewrites && || and ! even inside quotes, so {constant} is not what it says")
    python = re.sub(r"!(?!=)", "not ", condition.replace("&&", "and").replace("||", "or"))
    try:
        tree = ast.parse(casbin_internals.escape_assertion(python).strip(), mode="eval")
    except SyntaxError as exc:
        yield _error(rule, f"the condition does not parse: {exc.msg}")
        return
    for name in sorted(_names_read(tree)):
        if not any(name in _properties(tool) for tool in tools):
            tool = tools[0].name if len(tools) == 1 else f"any of {len(tools)} tools"
            yield _error(rule, f"the condition reads argument {name!r}, which {tool} does not take")
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            yield from _check_comparison(rule, node, tools)


def _names_read(tree: ast.AST) -> set[str]:
    names = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "r_args"
    }
    for node in ast.walk(tree):  # "name" in r.args
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
            and any(_is_args(right) for right in node.comparators)
        ):
            names.add(node.left.value)
    return names


def _check_comparison(rule: PolicyLine, node: ast.Compare, tools: list[ToolSpec]) -> Iterator[Finding]:
    operands = [node.left, *node.comparators]
    for operator, (left, right) in zip(node.ops, itertools.pairwise(operands), strict=True):
        for argument, other in ((left, right), (right, left)):
            name = _argument_name(argument)
            if name is None or (isinstance(operator, ast.In | ast.NotIn) and argument is right):
                continue  # "x" in r.args.tags tests membership in the argument, whatever x's type
            constants = _constants(other, collection=isinstance(operator, ast.In | ast.NotIn))
            schemas = [_properties(tool)[name] for tool in tools if name in _properties(tool)]
            if constants is None or not schemas:
                continue
            problem = _mismatch(name, constants, schemas)
            if problem:
                yield _error(rule, problem + ": the rule can never match as intended")


def _mismatch(name: str, constants: list[Any], schemas: list[dict[str, Any]]) -> str | None:
    for schema in schemas:
        declared = schema.get("type")
        types = {declared} if isinstance(declared, str) else set(declared or ())
        if types and not any(_JSON_TYPES[type(value)] & types for value in constants):
            shown = ", ".join(repr(value) for value in constants)
            return f"argument {name!r} is {'/'.join(sorted(types))}, but the condition compares it with {shown}"
        enum = schema.get("enum")
        if enum is not None and not any(value in enum for value in constants):
            shown = ", ".join(repr(value) for value in constants)
            return f"argument {name!r} is one of {enum}, but the condition compares it with {shown}"
    return None


def _argument_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and _is_args(node.value):
        return node.attr
    return None


def _is_args(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "r_args"


def _constants(node: ast.expr, *, collection: bool) -> list[Any] | None:
    """The constant values ``node`` stands for (several for a tuple after ``in``), or None when it is not constant."""
    items = node.elts if collection and isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    if not all(isinstance(item, ast.Constant) and type(item.value) in _JSON_TYPES for item in items):
        return None
    return [item.value for item in items if isinstance(item, ast.Constant)]


def _properties(tool: ToolSpec) -> dict[str, Any]:
    properties = tool.input_schema.get("properties", {})
    return properties if isinstance(properties, dict) else {}


def _error(rule: PolicyLine, message: str) -> Finding:
    return Finding("error", rule.file, rule.line, message)
