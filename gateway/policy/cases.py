"""``callgate policy test FILE``: a table of requests and the decisions the policy must give them.

The file is YAML (like ``opa test``, but data, not code)::

    defaults: {tenant: acme}          # optional: merged into every case
    cases:
      - name: finance refunds up to 500 euros
        subject: finance-bot          # a configured principal: its roles and tenant are used
        tool: billing.issue_refund
        arguments: {customer_id: C1001, amount: 500, currency: EUR}
        expect: allow
      - name: a role nobody has yet
        roles: [auditor]              # roles instead of (or as well as) a subject
        tool: crm.get_customer
        action: list                  # call (the default), list, or approve (may decide requests)
        expect: deny
      - name: a large refund waits for a human
        subject: finance-bot
        tool: billing.issue_refund
        arguments: {customer_id: C1001, amount: 450, currency: EUR}
        expect: approve               # allowed once an approver approves it

A case fails when the decision differs; a case that names a tool the
configuration does not define, or a subject it does not know without giving
roles, is an error in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from gateway.auth import Principal
from gateway.config import Config
from gateway.policy.approval import APPROVE_ACTION
from gateway.policy.engine import CALL, LIST, PolicyEngine
from gateway.policy.explain import Decision, principal_for

_CASE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "subject": {"type": "string", "minLength": 1},
        "roles": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "tenant": {"type": "string", "minLength": 1},
        "tool": {"type": "string", "minLength": 1},
        "action": {"enum": [CALL, LIST, APPROVE_ACTION]},
        "arguments": {"type": "object"},
        "expect": {"enum": ["allow", "deny", "approve"]},
    },
    "additionalProperties": False,
}
_FILE = Draft202012Validator(
    {
        "type": "object",
        "properties": {
            "defaults": {**_CASE, "properties": {k: v for k, v in _CASE["properties"].items() if k != "name"}},
            "cases": {"type": "array", "minItems": 1, "items": {**_CASE, "required": ["tool", "expect"]}},
        },
        "required": ["cases"],
        "additionalProperties": False,
    }
)


class CaseFileError(Exception):
    """The table itself is wrong; ``line`` is where, when known."""

    def __init__(self, file: Path, message: str, line: int | None = None) -> None:
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    line: int
    principal: Principal
    tool: str
    action: str
    arguments: Mapping[str, Any]
    #: ``allow``, ``deny`` or ``approve`` (allowed once a human approves it): Decision.verdict.
    expect: str


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    decision: Decision

    @property
    def passed(self) -> bool:
        return self.decision.verdict == self.case.expect


def load_cases(path: Path, config: Config) -> list[Case]:
    """The cases of ``path``, checked against ``config``; raises CaseFileError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        lines = _case_lines(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(path, f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CaseFileError(path, "invalid YAML", mark.line + 1 if mark else None) from None
    errors = sorted(_FILE.iter_errors(data), key=lambda error: list(map(str, error.absolute_path)))
    if errors:
        where = list(errors[0].absolute_path)
        line = lines[where[1]] if len(where) > 1 and where[0] == "cases" and isinstance(where[1], int) else None
        path_text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".")
        raise CaseFileError(path, f"{path_text or 'the file'}: {errors[0].message}", line)
    defaults = data.get("defaults", {})
    cases: list[Case] = []
    for index, raw in enumerate(data["cases"]):
        entry = {**defaults, **raw}
        line = lines[index]
        try:
            principal = principal_for(config, entry.get("subject"), entry.get("tenant"), entry.get("roles"))
        except ValueError as exc:
            raise CaseFileError(path, str(exc), line) from None
        if entry["tool"] not in config.tools:
            raise CaseFileError(path, f"no tool is named {entry['tool']!r}", line)
        name = entry.get("name") or f"{principal.subject} {entry.get('action', CALL)} {entry['tool']}"
        cases.append(
            Case(
                name=name,
                line=line,
                principal=principal,
                tool=entry["tool"],
                action=entry.get("action", CALL),
                arguments=entry.get("arguments", {}),
                expect=entry["expect"],
            )
        )
    return cases


def run_cases(engine: PolicyEngine, cases: list[Case]) -> list[Result]:
    """Each case's decision, as :meth:`PolicyEngine.explain` gives it (the same decision ``allows`` gives)."""
    return [Result(case, engine.explain(case.principal, case.tool, case.action, case.arguments)) for case in cases]


def _case_lines(text: str) -> list[int]:
    """The 1-based line of each entry of ``cases``."""
    node = yaml.compose(text)
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []
