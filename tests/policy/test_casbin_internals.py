"""The contract with pycasbin: every structure gateway/policy/casbin_internals.py reads still has its shape.

callgate evaluates Casbin's matcher one rule at a time, so it reads pycasbin
structures that are not public API. Each block here names the structure it
checks; after a pycasbin upgrade a failure (a wrong shape, or a missing
attribute) says which one moved, before any decision can silently change.
Keep pyproject.toml's pycasbin pin within the versions these tests pass on.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import casbin
import pytest
from casbin import util as casbin_util
from casbin.core_enforcer import CoreEnforcer
from casbin.effect import Effector

from gateway.policy import casbin_internals
from tests.conftest import REPO_ROOT

MODEL = REPO_ROOT / "policies" / "model.conf"
ACL_MODEL = REPO_ROOT / "tests" / "policy_models" / "basic" / "basic_model.conf"


@contextmanager
def relied_on(structure: str, expected: str) -> Iterator[None]:
    """Turn any failure inside the block into one message naming the pycasbin structure and what callgate needs."""
    try:
        yield
    except Exception as exc:  # AssertionError for a wrong shape, AttributeError/KeyError/... for a missing one
        pytest.fail(
            f"pycasbin {version('pycasbin')}: {structure} is not what callgate relies on ({expected}): "
            f"{type(exc).__name__}: {exc}. Adapt gateway/policy/casbin_internals.py, "
            "and keep pyproject.toml's pycasbin pin below this version until then.",
            pytrace=False,
        )


def enforcer(model: Path = MODEL, *rules: tuple[str, list[str]]) -> Any:
    built = casbin.Enforcer(casbin_internals.new_model(str(model)))
    for key, values in rules:
        (built.add_named_grouping_policy if key.startswith("g") else built.add_named_policy)(key, *values)
    return built


# The model


def test_assertion_tokens_are_the_prefixed_field_names() -> None:
    model = casbin_internals.new_model(str(MODEL))
    with relied_on("Assertion.tokens", "a list of field names prefixed 'r_'/'p_', in declaration order"):
        assert casbin_internals.field_tokens(model, "r", "r") == ["r_sub", "r_dom", "r_obj", "r_act", "r_args"]
        assert casbin_internals.field_tokens(model, "p", "p") == [
            "p_sub", "p_dom", "p_obj", "p_act", "p_eft", "p_cond",
        ]  # fmt: skip


def test_assertion_value_is_the_definitions_text() -> None:
    model = casbin_internals.new_model(str(MODEL))
    with relied_on("Assertion.value of [matchers]", "the matcher's source, r.x/p.x written r_x/p_x"):
        matcher = casbin_internals.definition(model, "m", "m")
        assert matcher.startswith("g(r_sub, p_sub, r_dom) && ") and "eval(p_cond)" in matcher
    with relied_on("Assertion.value of [role_definition]", "'_, _, _': one '_' per field of a g line"):
        assert casbin_internals.definition(model, "g", "g").count("_") == 3
    with relied_on("Assertion.value of [policy_effect]", "the effect expression, as get_effector reads it"):
        expected = "some(where (p_eft == allow)) && !some(where (p_eft == deny))"
        assert casbin_internals.definition(model, "e", "e") == expected


def test_model_sections_and_types_through_the_mapping_protocol() -> None:
    model = casbin_internals.new_model(str(MODEL))
    with relied_on("Model.keys() and model[section]", "the sections defined, each a dict of assertions by type"):
        assert casbin_internals.sections(model) == {"r", "p", "g", "e", "m"}
        assert casbin_internals.has_type(model, "g", "g") and not casbin_internals.has_type(model, "g", "g2")
        assert casbin_internals.grouping_types(model) == ["g"]
        assert casbin_internals.grouping_types(casbin_internals.new_model(str(ACL_MODEL))) == []


# The policy


def test_the_tokenizer_splits_a_line_as_casbins_file_adapter_does() -> None:
    line = 'p, finance-agent, acme, billing.*, call, allow, r.args.currency in ("EUR", "USD")'
    with relied_on("casbin.persist.adapter._extract_tokens", "top-level commas split, bracketed ones do not"):
        assert casbin_internals.tokenize(line) == [
            "p", "finance-agent", "acme", "billing.*", "call", "allow", 'r.args.currency in ("EUR", "USD")',
        ]  # fmt: skip
    with relied_on("casbin.persist.adapter._extract_tokens", "IndexError on an unmatched ')'"):
        try:
            casbin_internals.tokenize("p, a), b")
        except IndexError:
            pass
        else:
            raise AssertionError("no IndexError")


def test_an_added_rule_is_the_policy_the_enforcer_evaluates() -> None:
    model = casbin_internals.new_model(str(MODEL))
    rules = [
        ("support-agent", "acme", "clock.now", "call", "allow", ""),
        ("a", "b", "c", "call", "allow", 'r.args.x in ("1", "2")'),
    ]
    with relied_on(
        "casbin.persist.load_policy_line and Enforcer.get_named_policy / get_named_grouping_policy",
        "rules appended in order, fields unchanged, an empty last field kept",
    ):
        for rule in rules:
            casbin_internals.add_rule(model, "p", rule)
        casbin_internals.add_rule(model, "g", ("user:lead-bot", "support-agent", "acme"))
        built = casbin.Enforcer(model)
        assert casbin_internals.policy_rules(built) == [list(rule) for rule in rules]
        assert casbin_internals.grouping_rules(built) == [["user:lead-bot", "support-agent", "acme"]]


# The enforcer


def test_the_function_map_holds_casbins_built_in_functions() -> None:
    with relied_on("Enforcer.fm.get_functions()", "a dict of Casbin's built-in functions by name"):
        functions = casbin_internals.functions(enforcer())
        assert {"keyMatch", "keyMatch2", "regexMatch", "ipMatch", "globMatch"} <= set(functions)
        assert functions["keyMatch"]("billing.refund", "billing.*") is True


def test_role_functions_come_from_the_role_managers() -> None:
    built = enforcer(MODEL, ("g", ["user:lead-bot", "finance-agent", "acme"]))
    with relied_on(
        "Enforcer.get_named_role_manager and casbin.util.generate_g_function",
        "g(name, role, domain) true for a g line in that domain only, and for equal names",
    ):
        g = casbin_internals.role_function(built, "g")
        assert g is not None
        assert g("user:lead-bot", "finance-agent", "acme") and not g("user:lead-bot", "finance-agent", "globex")
        assert g("admin", "admin", "acme") is True
    with relied_on("Enforcer.get_named_role_manager", "ValueError for a role type the model does not define"):
        assert casbin_internals.role_function(built, "g2") is None
    with relied_on(
        "Enforcer.cond_rm_map and casbin.util.generate_conditional_g_function",
        "a dict of conditional role managers by type, and a factory of g functions over one",
    ):
        assert isinstance(built.cond_rm_map, dict)
        assert casbin_util.generate_conditional_g_function(None)("a", "a") is True


def test_the_effector_combines_effects_as_enforce_does() -> None:
    with relied_on(
        "Enforcer.eft (DenyOverrideEffector), Effector, effect_to_bool",
        "intermediate_effect/final_effect over a set of effects: deny decides at once, nothing is deny",
    ):
        effector = casbin_internals.effector(enforcer())
        assert effector.intermediate_effect({Effector.DENY}) == Effector.DENY
        assert effector.intermediate_effect({Effector.ALLOW}) == Effector.INDETERMINATE
        assert effector.final_effect({Effector.ALLOW}) == Effector.ALLOW
        assert effector.final_effect(set()) == Effector.DENY
        assert casbin_internals.effect_to_bool(Effector.ALLOW) is True
        assert casbin_internals.effect_to_bool(Effector.DENY) is False


# The expression engine


def test_eval_helpers_find_and_replace_eval_fields() -> None:
    source = "g(r_sub, p_sub, r_dom) && (p_cond == '' || eval(p_cond))"
    with relied_on("casbin.util.has_eval and get_eval_value", "the eval() arguments in order, none without eval()"):
        assert casbin_internals.eval_fields(source) == ["p_cond"]
        assert casbin_internals.eval_fields("r_sub == p_sub") == []
    with relied_on("casbin.util.replace_eval", "each eval(x) replaced by (expression)"):
        assert casbin_internals.replace_eval(source, ["r_args.amount <= 5"]).endswith("|| (r_args.amount <= 5))")
    with relied_on("casbin.util.escape_assertion", "r.x and p.x written r_x and p_x"):
        assert casbin_internals.escape_assertion("r.args.amount <= 5 && p.sub") == "r_args.amount <= 5 && p_sub"


def test_expressions_compile_and_evaluate_as_enforce_compiles_them() -> None:
    with relied_on("casbin.util.SimpleEval", "SimpleEval(expression, functions).eval(names)"):
        compiled = casbin_internals.compile_expression("!(r_x == 1) && (r_y || r_z)", {})
        assert isinstance(compiled, casbin_util.SimpleEval)
        assert compiled.eval({"r_x": 2, "r_y": False, "r_z": True}) is True
    with relied_on("CoreEnforcer._get_expression", "&& || ! rewritten to and, or, not (compile_expression repeats it)"):
        source = inspect.getsource(CoreEnforcer._get_expression)
        assert 'replace("&&", "and")' in source and 'replace("||", "or")' in source
        assert 're.sub(r"!(?!=)", "not "' in source
    with relied_on("casbin.util.key_match", "a prefix match on a trailing '*'"):
        assert casbin_internals.key_match("billing.refund", "billing.*")
        assert not casbin_internals.key_match("billing", "crm.*")


def test_enforce_ex_names_the_deciding_rule_as_the_rule_by_rule_loop_does() -> None:
    """End to end: enforce_ex over the same model, r.sub as callgate fills it, decides with the rule callgate names."""
    finance = ["finance-agent", "acme", "billing.*", "call", "allow", "r.args.amount <= 5"]
    built = enforcer(MODEL, ("p", finance), ("p", ["admin", "*", "*", "call", "allow", ""]))
    built.add_named_grouping_policy("g", "user:lead-bot", "finance-agent", "acme")

    class Arguments:
        amount = 3

    with relied_on("CoreEnforcer.enforce_ex", "(result, deciding rule); g(r.sub...) from the role manager"):
        assert built.enforce_ex("user:lead-bot", "acme", "billing.refund", "call", Arguments()) == (True, finance)
        assert built.enforce_ex("user:admin", "acme", "clock.now", "call", Arguments()) == (False, [])
