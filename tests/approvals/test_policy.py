"""What needs approval and who may give it: approve rules, tool specs and risks; check, test and explain know them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.config import load_config
from gateway.policy import PolicyEngine
from gateway.policy.check import check_config
from gateway.policy.engine import ApprovalUndecided
from tests.approvals.conftest import APPROVER, REFUND, ConfigCopy
from tests.conftest import REPO_ROOT
from tests.policy.conftest import principal

FINANCE = principal("finance-bot", "finance-agent")
APPROVING = principal("finance-lead", APPROVER)


def engine(config: ConfigCopy) -> PolicyEngine:
    return PolicyEngine(load_config(config.path, env={}))


def refund(amount: float, **extra: object) -> dict[str, object]:
    return {**REFUND, "amount": amount, **extra}


def test_an_approve_rule_adds_a_human_to_allowed_calls_only(config_copy: ConfigCopy) -> None:
    policy = engine(config_copy)
    assert policy.allows(FINANCE, "billing.issue_refund", "call", refund(450))
    approval = policy.approval(FINANCE, "billing.issue_refund", refund(450))
    assert approval is not None and approval.where.startswith("policies/policy.csv:")
    assert approval.rule is not None and approval.rule.values[4] == "approve"
    assert policy.approval(FINANCE, "billing.issue_refund", refund(200)) is None
    # 600 matches the approve rule but no allow rule: denied, never parked.
    assert not policy.allows(FINANCE, "billing.issue_refund", "call", refund(600))


def test_an_approve_rule_alone_grants_nothing_and_a_deny_beats_it(config_copy: ConfigCopy) -> None:
    config_copy.add_rules(
        "p, sales-agent, acme, billing.issue_refund, call, approve",
        "p, support-agent, acme, billing.issue_refund, call, approve",
    )
    policy = engine(config_copy)
    for who in (principal("sales-bot", "sales-agent"), principal("support-bot", "support-agent")):
        assert not policy.allows(who, "billing.issue_refund", "call", refund(5))
        assert not policy.allows(who, "billing.issue_refund", "list")
        assert not policy.explain(who, "billing.issue_refund", "call", refund(5)).allowed


def test_an_approve_rule_that_cannot_be_evaluated_refuses_the_call(config_copy: ConfigCopy) -> None:
    """Leaving out an argument an approve condition reads must not skip the human: the call is refused."""
    config_copy.add_rules('p, finance-agent, acme, billing.issue_refund, call, approve, r.args.reason == "vip"')
    policy = engine(config_copy)
    arguments = {key: value for key, value in refund(100).items() if key != "reason"}
    assert policy.allows(FINANCE, "billing.issue_refund", "call", arguments)
    with pytest.raises(ApprovalUndecided):
        policy.approval(FINANCE, "billing.issue_refund", arguments)
    assert policy.explain(FINANCE, "billing.issue_refund", "call", arguments).verdict == "deny"


def test_approval_decisions_are_cached_on_exactly_the_values_they_read(config_copy: ConfigCopy) -> None:
    policy = engine(config_copy)
    answers = [
        policy.approval(FINANCE, "billing.issue_refund", refund(amount)) is not None for amount in (450, 150)
    ] * 3
    assert answers == [True, False] * 3
    assert policy.approval(FINANCE, "billing.issue_refund", refund(450, reason="other")) is not None


def test_a_tool_spec_or_its_risk_can_require_approval_for_every_call(config_copy: ConfigCopy) -> None:
    spec = config_copy.path / "tool_specs" / "crm.update_email.yaml"
    spec.write_text(spec.read_text() + "approval: required\n")
    config_copy.edit_gateway(approvals={"require_for_risk": ["high"]})
    policy = engine(config_copy)
    email = policy.approval(principal("sales-bot", "sales-agent"), "crm.update_email", {})
    assert email is not None and (email.where, email.why) == (
        "tool_specs/crm.update_email.yaml",
        "the tool spec says approval: required",
    )
    small = policy.approval(FINANCE, "billing.issue_refund", refund(5))
    assert small is not None and small.where == "policies/gateway.yaml" and "risk high" in small.why
    assert policy.approval(FINANCE, "crm.get_customer", {"customer_id": "C1001"}) is None


def test_approvers_hold_the_approve_action_within_their_tenant(config_copy: ConfigCopy) -> None:
    policy = engine(config_copy)
    assert policy.allows(APPROVING, "billing.issue_refund", "approve", refund(450))
    assert policy.could(APPROVING, "billing.issue_refund", "approve")
    assert not policy.could(APPROVING, "crm.update_email", "approve")
    assert not policy.could(principal("x", APPROVER, tenant="globex"), "billing.issue_refund", "approve")
    assert not policy.could(FINANCE, "billing.issue_refund", "approve")
    assert not policy.could(principal("ops-admin", "admin"), "billing.issue_refund", "approve")
    assert not policy.allows(APPROVING, "billing.issue_refund", "call", refund(5)), "an approver calls no tool"


def test_an_approver_rule_with_a_condition_bounds_what_it_may_approve(config_copy: ConfigCopy) -> None:
    config_copy.add_rules("p, junior-approver, acme, billing.issue_refund, approve, allow, r.args.amount <= 300")
    config_copy.add_principal("junior", "junior-approver")
    policy = engine(config_copy)
    junior = principal("junior", "junior-approver")
    assert policy.allows(junior, "billing.issue_refund", "approve", refund(300))
    assert not policy.allows(junior, "billing.issue_refund", "approve", refund(450))


def test_explain_names_the_approve_rule(config_copy: ConfigCopy) -> None:
    decision = engine(config_copy).explain(FINANCE, "billing.issue_refund", "call", refund(450))
    assert decision.allowed and decision.verdict == "approve"
    body = decision.to_dict()
    assert body["decision"] == "approve"
    assert body["approval"]["where"].startswith("policies/policy.csv:")
    assert body["approval"]["rule"].startswith("p, finance-agent, acme, billing.issue_refund, call, approve")
    assert engine(config_copy).explain(FINANCE, "billing.issue_refund", "call", refund(5)).to_dict()["approval"] is None


def test_policy_explain_on_the_command_line_says_approve(config_copy: ConfigCopy) -> None:
    args = ["policy", "explain", "--config-dir", str(config_copy.path), "--subject", "finance-bot"]
    args += ["--tool", "billing.issue_refund", "--args", '{"customer_id": "C1001", "amount": 450, "currency": "EUR"}']
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    first, *rest = result.stdout.splitlines()
    assert first.startswith("APPROVE: allowed by policies/policy.csv:") and first.endswith("once a human approves it")
    assert any(line.startswith("  approval policies/policy.csv:") for line in rest)
    approver = ["policy", "explain", "--config-dir", str(config_copy.path), "--subject", "finance-lead"]
    approver += ["--tool", "billing.issue_refund", "--action", "approve"]
    assert CliRunner().invoke(main, approver).stdout.startswith("ALLOW: allowed by policies/policy.csv:")


def test_policy_test_tells_approve_from_allow(config_copy: ConfigCopy, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - {subject: finance-bot, tool: billing.issue_refund, arguments: "
        "{customer_id: C1001, amount: 450, currency: EUR}, expect: allow}\n"
        "  - {subject: finance-bot, tool: billing.issue_refund, arguments: "
        "{customer_id: C1001, amount: 450, currency: EUR}, expect: approve}\n"
    )
    result = CliRunner().invoke(main, ["policy", "test", str(cases), "--config-dir", str(config_copy.path)])
    assert result.exit_code == 1
    assert "expected allow, got approve" in result.stdout
    assert result.stdout.strip().endswith("1 passed, 1 failed")


def findings(config: ConfigCopy) -> list[str]:
    return [f"{f.severity}:{f.file.name}:{f.line}: {f.message}" for f in check_config(config.path)]


def without_jwt(config: ConfigCopy) -> ConfigCopy:
    """Without JWT issuers a role no API key holds is an error, not a warning."""
    config.edit_gateway(principals={"jwt": []})
    return config


def test_policy_check_finds_parked_calls_nobody_may_approve(config_copy: ConfigCopy) -> None:
    without_jwt(config_copy).add_rules("p, sales-agent, acme, crm.update_email, call, approve")
    (problem,) = findings(config_copy)
    assert problem.startswith("error:policy.csv:")
    assert "calls to crm.update_email waiting for approval can never be approved" in problem
    config_copy.add_rules("p, finance-approver, acme, crm.update_email, approve, allow")
    assert findings(config_copy) == []


def test_policy_check_finds_a_spec_requiring_approval_nobody_may_give(config_copy: ConfigCopy) -> None:
    spec = config_copy.path / "tool_specs" / "docs.search.yaml"
    spec.write_text(spec.read_text() + "approval: required\n")
    (problem,) = findings(without_jwt(config_copy))
    assert problem.startswith(f"error:docs.search.yaml:{len(spec.read_text().splitlines())}: ")


def test_policy_check_refuses_effects_and_actions_it_does_not_know(config_copy: ConfigCopy) -> None:
    without_jwt(config_copy).add_rules(
        "p, finance-agent, acme, crm.get_customer, call, alow",
        "p, finance-approver, acme, billing.issue_refund, approve, approve",
        "p, finance-agent, acme, crm.get_customer, delete, allow",
    )
    problems = findings(config_copy)
    assert any("the effect is 'alow'" in problem for problem in problems)
    assert any("an approve effect makes calls wait for a human: its action must be 'call'" in p for p in problems)
    assert any("the action is 'delete'" in problem for problem in problems)


def test_the_shipped_policy_checks_clean_and_its_table_passes() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["policy", "check", "--config-dir", str(REPO_ROOT)]).exit_code == 0
    table = str(REPO_ROOT / "policies" / "tests.yaml")
    result = runner.invoke(main, ["policy", "test", table, "--config-dir", str(REPO_ROOT)])
    assert result.exit_code == 0, result.output
