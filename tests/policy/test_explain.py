"""``PolicyEngine.explain``: the deciding rule, and whether it matched as the subject or through which role."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.policy.conftest import MAY_CALL, TOOLS, engine, principal, refund, with_policy

REFUND = {"customer_id": "C1001", "amount": 5, "currency": "EUR"}


def test_a_rule_for_a_role_is_explained_as_matched_through_that_role() -> None:
    decision = engine().explain(principal("finance-bot", "finance-agent"), "billing.issue_refund", "call", REFUND)
    assert decision.allowed and (decision.matched_as, decision.role) == ("role", "finance-agent")
    assert decision.reason.endswith(", through role finance-agent")
    assert decision.subject == "user:finance-bot"
    assert decision.to_dict()["matched"] == {"as": "role", "role": "finance-agent"}
    assert decision.to_dict()["subject"] == "user:finance-bot"


def test_of_several_roles_the_one_that_matched_is_named() -> None:
    policy = engine()
    allowed = policy.explain(principal("bot", "sales-agent", "finance-agent"), "billing.issue_refund", "call", REFUND)
    assert (allowed.allowed, allowed.role) == (True, "finance-agent")
    denied = policy.explain(principal("bot", "finance-agent", "support-agent"), "billing.issue_refund", "call", REFUND)
    assert (denied.allowed, denied.role) == (False, "support-agent")
    assert denied.reason.startswith("denied by policies/policy.csv:") and denied.reason.endswith("role support-agent")


def test_a_listing_names_the_role_too() -> None:
    decision = engine().explain(principal("finance-bot", "finance-agent"), "billing.issue_refund", "list")
    assert decision.allowed and decision.reason.startswith("listed: ")
    assert (decision.matched_as, decision.role) == ("role", "finance-agent")


def test_a_rule_for_one_subject_is_explained_as_matched_as_the_subject(config_copy: Path) -> None:
    policy = engine(with_policy(config_copy, "p, user:support-bot, acme, reports.daily, call, allow"))
    decision = policy.explain(principal("support-bot", "support-agent"), "reports.daily")
    assert decision.allowed and (decision.matched_as, decision.role) == ("subject", None)
    assert decision.reason.endswith(", as subject user:support-bot")


def test_a_role_given_to_the_subject_by_a_g_line_is_explained_as_the_subject(config_copy: Path) -> None:
    policy = engine(with_policy(config_copy, "g, user:lead-bot, finance-agent, acme"))
    decision = policy.explain(principal("lead-bot"), "billing.issue_refund", "call", REFUND)
    assert decision.allowed and decision.matched_as == "subject"


def test_a_rule_that_does_not_depend_on_the_caller_is_explained_as_for_anyone(config_copy: Path) -> None:
    model = (REPO_ROOT / "policies" / "model.conf").read_text()
    model = model.replace("m = g(r.sub, p.sub, r.dom) &&", 'm = (p.sub == "*" || g(r.sub, p.sub, r.dom)) &&')
    (config_copy / "policies" / "model.conf").write_text(model)
    policy = engine(with_policy(config_copy, "p, *, acme, clock.now, call, allow"))
    decision = policy.explain(principal("anyone"), "clock.now")
    assert decision.allowed and decision.matched_as == "anyone"
    assert decision.reason.endswith(", whoever calls")


def test_a_subject_named_like_a_role_is_denied_by_default_and_shown_as_user_name() -> None:
    decision = engine().explain(principal("admin"), "clock.now")
    assert not decision.allowed and decision.rule is None and decision.matched_as is None
    assert decision.reason == "denied: no rule allows it (deny by default)"
    assert decision.subject == "user:admin"


def test_explain_names_the_deciding_rule_and_its_line() -> None:
    policy = engine()
    lines = (REPO_ROOT / "policies" / "policy.csv").read_text().splitlines()
    allowed = policy.explain(principal("finance-bot", "finance-agent"), "billing.issue_refund", "call", refund(5))
    assert allowed.allowed and allowed.rule is not None
    assert lines[allowed.rule.line - 1].startswith("p, finance-agent, acme, billing.issue_refund")
    denied = policy.explain(principal("support-bot", "support-agent"), "billing.issue_refund", "call", refund(5))
    assert not denied.allowed and denied.rule is not None
    assert lines[denied.rule.line - 1] == "p, support-agent, acme, billing.*, call, deny"
    assert denied.to_dict()["rule"] == {
        "file": "policies/policy.csv",
        "line": denied.rule.line,
        "text": "p, support-agent, acme, billing.*, call, deny",
    }


def test_explain_shows_a_rule_whose_condition_was_false() -> None:
    decision = engine().explain(principal("finance-bot", "finance-agent"), "billing.issue_refund", "call", refund(900))
    assert not decision.allowed and decision.rule is None
    assert decision.reason == "denied: no rule allows it (deny by default)"
    assert [rule.values[2] for rule in decision.considered] == ["billing.issue_refund"]


def test_explain_agrees_with_allows() -> None:
    policy = engine()
    for role in MAY_CALL:
        for tool in TOOLS:
            for action, arguments in (("call", refund()), ("call", refund(900)), ("list", None)):
                caller = principal(f"{role}-bot", role)
                expected = policy.allows(caller, tool, action, arguments)
                assert policy.explain(caller, tool, action, arguments).allowed == expected
