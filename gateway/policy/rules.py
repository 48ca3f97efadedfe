"""``policy.csv`` read the way Casbin reads it, keeping each rule's line for messages and explanations.

Two things are stricter than Casbin's own file adapter, so that a mistake stops
the load with its line instead of denying every request later: a line must
name a policy type the model defines, and must have as many fields as that
type (a grouping line at least as many). One thing is more lenient: when the
model's last policy field is ``cond``, a rule may leave it out, and then has
no condition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casbin.persist import Adapter

from gateway.config import ConfigError
from gateway.policy import casbin_internals

#: The largest policy callgate loads: a cold decision reads every rule once (see engine.py).
MAX_RULES = 100_000

#: The optional last field of a policy rule: a condition over the call's arguments.
CONDITION_FIELD = "cond"


@dataclass(frozen=True, slots=True)
class PolicyLine:
    """One rule of ``policy.csv``: its type (``p``, ``g``, ...), its fields, and where it is."""

    key: str
    values: tuple[str, ...]
    file: Path
    line: int
    text: str

    @property
    def where(self) -> str:
        """``policies/policy.csv:17``: the file within its config directory, and the line."""
        return f"{self.file.parent.name}/{self.file.name}:{self.line}"


def read_policy(path: Path, model: Any) -> list[PolicyLine]:
    """Every rule of the policy file ``path`` for the Casbin ``model``; raises ConfigError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read: {exc}") from None
    rules: list[PolicyLine] = []
    shapes: dict[str, list[str]] = {}  # field names per policy type, looked up once
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = casbin_internals.tokenize(line)
        except IndexError:  # Casbin's tokenizer pops an empty stack on an unmatched ")" or "]"
            raise ConfigError(path, "unbalanced brackets", line=number) from None
        key, values = tokens[0], tokens[1:]
        fields = _checked_fields(path, number, model, key, values, shapes)
        rules.append(PolicyLine(key, fields, path, number, line))
        if len(rules) > MAX_RULES:
            raise ConfigError(path, f"more than {MAX_RULES} rules", line=number)
    return rules


def _checked_fields(
    path: Path, number: int, model: Any, key: str, values: list[str], shapes: dict[str, list[str]]
) -> tuple[str, ...]:
    section = key[:1]
    if section not in ("p", "g") or not casbin_internals.has_type(model, section, key):
        raise ConfigError(path, f"{key!r} is not a policy or role type that model.conf defines", line=number)
    if section == "g":
        needed = casbin_internals.definition(model, "g", key).count("_")
        if len(values) < needed:
            raise ConfigError(path, f"{key} lines need {needed} fields; this one has {len(values)}", line=number)
        return tuple(values)
    names = shapes.get(key)
    if names is None:
        names = shapes[key] = [
            token.removeprefix(key + "_") for token in casbin_internals.field_tokens(model, "p", key)
        ]
    if len(values) == len(names) - 1 and names[-1] == CONDITION_FIELD:
        values = [*values, ""]  # no condition
    if len(values) != len(names):
        fields = ", ".join(names)
        raise ConfigError(
            path, f"{key} rules have {len(names)} fields ({fields}); this one has {len(values)}", line=number
        )
    return tuple(values)


class LinesAdapter(Adapter):  # type: ignore[misc]  # casbin is untyped
    """A Casbin adapter that hands over rules already read (and checked) by :func:`read_policy`."""

    def __init__(self, rules: Iterable[PolicyLine]) -> None:
        self._rules = list(rules)

    def load_policy(self, model: Any) -> None:
        for rule in self._rules:
            casbin_internals.add_rule(model, rule.key, rule.values)
