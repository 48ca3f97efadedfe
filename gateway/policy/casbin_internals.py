"""Every use of pycasbin beyond its documented API, in one place, each checked by a contract test.

callgate evaluates Casbin's matcher one rule at a time (matcher.py, decide.py)
instead of calling ``enforce``, so it must see what ``enforce`` sees: the
model's field lists and matcher, the function map, the role managers, the
effector, Casbin's line tokenizer. pycasbin has no public accessor for these,
so they are read here and nowhere else, and
``tests/policy/test_casbin_internals.py`` fails, naming the structure, if an
upgrade changes any of them. ``pyproject.toml`` pins the versions that test
has passed on; widen the pin only after it passes on the new version.

Where pycasbin does have public API it is used instead: ``Enforcer.new_model``,
``Model.keys()`` and ``model[section]`` (its mapping protocol),
``Enforcer.get_model``, ``get_named_policy``, ``get_named_grouping_policy``,
``get_named_role_manager``, ``casbin.persist.load_policy_line`` (the helper
adapters use) and ``casbin.effect.effect_to_bool``.

The internals read, and what for:

- ``Assertion.tokens``: the request and policy field names (``r_sub``, ...).
- ``Assertion.value``: the matcher's source, the effect expression, a role
  definition's ``_, _, _`` (how many fields a ``g`` line has).
- ``Enforcer.fm.get_functions()``: the function map ``enforce`` evaluates with.
- ``Enforcer.cond_rm_map``: conditional role managers (no public getter).
- ``Enforcer.eft``: the effector (``intermediate_effect``, ``final_effect``).
- ``casbin.persist.adapter._extract_tokens``: the policy line tokenizer.
- ``casbin.util``: ``SimpleEval``, ``has_eval``, ``get_eval_value``,
  ``replace_eval``, ``escape_assertion``, ``generate_g_function``,
  ``generate_conditional_g_function``, ``key_match``.
- ``CoreEnforcer._get_expression``'s operator rewriting (``&&``, ``||``,
  ``!``), repeated in :func:`compile_expression` and checked against it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import casbin
from casbin import persist
from casbin import util as casbin_util
from casbin.effect import Effector, effect_to_bool

# Casbin's own tokenizer, so that a line means here exactly what it means to Casbin.
from casbin.persist.adapter import _extract_tokens

__all__ = [
    "Effector",
    "add_rule",
    "compile_expression",
    "definition",
    "effect_to_bool",
    "effector",
    "escape_assertion",
    "eval_fields",
    "field_tokens",
    "functions",
    "grouping_rules",
    "grouping_types",
    "has_type",
    "key_match",
    "new_model",
    "policy_rules",
    "replace_eval",
    "role_function",
    "sections",
    "tokenize",
]


def new_model(path: str) -> Any:
    """The Casbin model of ``model.conf`` at ``path`` (public: ``Enforcer.new_model``)."""
    return casbin.Enforcer.new_model(path=path)


def sections(model: Any) -> set[str]:
    """The sections the model defines: ``r``, ``p``, ``g``, ``e``, ``m`` (public: ``Model.keys()``)."""
    return set(model.keys())


def has_type(model: Any, section: str, key: str) -> bool:
    """Whether the model defines ``key`` (``p``, ``g2``, ...) in ``section`` (public: ``model[section]``)."""
    # Casbin's Policy has keys() and __getitem__ but no __contains__: "in model" would not ask keys().
    assertions = model[section] if section in model.keys() else None  # noqa: SIM118
    return assertions is not None and key in assertions


def grouping_types(model: Any) -> list[str]:
    """The role definitions the model declares (``g``, ``g2``, ...) (public: ``model["g"]``)."""
    return list(model["g"]) if "g" in model.keys() else []  # noqa: SIM118  (see has_type)


def field_tokens(model: Any, section: str, key: str) -> list[str]:
    """The field names of ``key``, prefixed as Casbin binds them (``r_sub``, ``p_eft``): ``Assertion.tokens``."""
    return list(model[section][key].tokens)


def definition(model: Any, section: str, key: str) -> str:
    """The text of ``key``'s definition (a matcher's source, ``_, _, _`` for a role): ``Assertion.value``."""
    return str(model[section][key].value)


def tokenize(line: str) -> list[str]:
    """A policy line's fields as Casbin's file adapter splits them; raises IndexError on an unmatched ``)``."""
    tokens: list[str] | None = _extract_tokens(line)
    return tokens or []


def add_rule(model: Any, key: str, values: tuple[str, ...]) -> None:
    """Append one rule to the model, as an adapter does (public: ``casbin.persist.load_policy_line``)."""
    persist.load_policy_line(", ".join((key, *values)), model)


def policy_rules(enforcer: Any, key: str = "p") -> list[list[str]]:
    """The ``key`` rules in the order Casbin evaluates them (public: ``Enforcer.get_named_policy``)."""
    rules: list[list[str]] = enforcer.get_named_policy(key)
    return rules


def grouping_rules(enforcer: Any, key: str = "g") -> list[list[str]]:
    """The ``key`` role links (public: ``Enforcer.get_named_grouping_policy``)."""
    rules: list[list[str]] = enforcer.get_named_grouping_policy(key)
    return rules


def functions(enforcer: Any) -> dict[str, Any]:
    """A copy of the function map ``enforce`` evaluates with (``keyMatch``, ...): ``Enforcer.fm``."""
    return dict(enforcer.fm.get_functions())


def role_function(enforcer: Any, key: str) -> Callable[..., bool] | None:
    """The ``g``-style function ``enforce`` binds to ``key``, from its role manager; None when it has none."""
    try:
        manager = enforcer.get_named_role_manager(key)
    except ValueError:  # "ptype not found": a conditional role definition, or none
        manager = None
    if manager is not None:
        return casbin_util.generate_g_function(manager)  # type: ignore[no-any-return]
    conditional = enforcer.cond_rm_map.get(key)
    if conditional is not None:
        return casbin_util.generate_conditional_g_function(conditional)  # type: ignore[no-any-return]
    return None


def effector(enforcer: Any) -> Any:
    """The effector for the model's ``[policy_effect]``: ``Enforcer.eft``."""
    return enforcer.eft


def eval_fields(matcher: str) -> list[str]:
    """The policy fields the matcher evaluates with ``eval()`` (``p_cond``), in order; empty without eval()."""
    if casbin_util.has_eval(matcher) is None:
        return []
    return list(casbin_util.get_eval_value(matcher))


def replace_eval(matcher: str, fields: list[str]) -> str:
    """The matcher with each ``eval(...)`` replaced by the matching expression of ``fields``."""
    return str(casbin_util.replace_eval(matcher, list(fields)))


def escape_assertion(expression: str) -> str:
    """``r.sub`` as ``r_sub``: Casbin's spelling of field references inside an expression."""
    return str(casbin_util.escape_assertion(expression))


def compile_expression(source: str, function_map: dict[str, Any]) -> Any:
    """The matcher ``source`` parsed once, as ``CoreEnforcer._get_expression`` does (``&&`` ``||`` ``!`` rewritten)."""
    python = re.sub(r"!(?!=)", "not ", source.replace("&&", "and").replace("||", "or"))
    return casbin_util.SimpleEval(python, function_map)


def key_match(name: str, pattern: str) -> bool:
    """Casbin's keyMatch: ``pattern`` ending in ``*`` matches every name with that prefix."""
    return bool(casbin_util.key_match(name, pattern))
