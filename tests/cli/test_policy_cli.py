"""``callgate policy check | test | explain`` as real processes, on the shipped files and on broken copies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT


def callgate(*args: str | Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway", "policy", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def append_rule(config_dir: Path, rule: str) -> int:
    """Append ``rule`` to the copy's policy.csv; returns its line number."""
    policy_file = config_dir / "policies" / "policy.csv"
    text = policy_file.read_text()
    policy_file.write_text(text + rule + "\n")
    return len(text.splitlines()) + 1


def without_jwt(config_dir: Path) -> Path:
    """The copy with API keys as its only principals, so every role a rule names must be held by one."""
    gateway_file = config_dir / "policies" / "gateway.yaml"
    data = yaml.safe_load(gateway_file.read_text())
    data["principals"].pop("jwt", None)
    gateway_file.write_text(yaml.safe_dump(data))
    return config_dir


# policy check


def test_check_passes_on_the_shipped_configuration() -> None:
    result = callgate("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "policy check: ok" in result.stdout


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("p, finance-agent, acme, billing.refund, call, allow", "no tool is named 'billing.refund'"),
        ("p, finance-agent, acme, payroll.*, call, allow", "no tool is named 'payroll.*'"),
        ("p, finance-agent, acme, clock.now, read, allow", "the action is 'read'"),
        (
            "p, finance-agent, acme, billing.issue_refund, call, allow, r.args.amout <= 500",
            "the condition reads argument 'amout', which billing.issue_refund does not take",
        ),
        (
            'p, finance-agent, acme, billing.issue_refund, call, allow, r.args.amount <= "500"',
            "argument 'amount' is number, but the condition compares it with '500'",
        ),
        (
            'p, finance-agent, acme, billing.issue_refund, call, allow, r.args.currency in ("JPY", "CHF")',
            "argument 'currency' is one of ['EUR', 'USD', 'GBP'], but the condition compares it with 'JPY', 'CHF'",
        ),
        (
            'p, finance-agent, acme, billing.issue_refund, call, allow, r.args.reason != "urgent!"',
            "Casbin rewrites && || and ! even inside quotes",
        ),
    ],
)
def test_check_reports_a_rule_that_can_never_match_with_file_and_line(
    config_copy: Path, rule: str, message: str
) -> None:
    line = append_rule(config_copy, rule)
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 1
    assert f"policies/policy.csv:{line}: error: {message}" in result.stdout


def test_check_reports_a_role_nobody_holds(config_copy: Path) -> None:
    line = append_rule(without_jwt(config_copy), "p, auditor, acme, crm.get_customer, call, allow")
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 1
    assert f"policies/policy.csv:{line}: error: no principal holds 'auditor' in tenant 'acme'" in result.stdout


def test_check_reports_a_role_held_only_in_another_tenant(config_copy: Path) -> None:
    line = append_rule(without_jwt(config_copy), "p, support-agent, globex, crm.get_customer, call, allow")
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 1
    assert f"policies/policy.csv:{line}: error: no principal holds 'support-agent' in tenant 'globex'" in result.stdout


def test_check_counts_roles_inherited_through_g_lines_as_held(config_copy: Path) -> None:
    append_rule(without_jwt(config_copy), "g, finance-agent, refunds-reader, acme")
    append_rule(config_copy, "p, refunds-reader, acme, reports.daily, call, allow")
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 0, result.stdout


def test_check_only_warns_about_unheld_roles_when_tokens_may_carry_them(config_copy: Path) -> None:
    gateway = yaml.safe_load((config_copy / "policies" / "gateway.yaml").read_text())
    if not gateway["principals"].get("jwt"):
        pytest.skip("the shipped configuration has no JWT issuer")
    line = append_rule(config_copy, "p, auditor, acme, crm.get_customer, call, allow")
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 0
    assert f"policies/policy.csv:{line}: warning: no API key holds 'auditor' in tenant 'acme'" in result.stdout


def test_check_reports_a_rate_limit_for_a_role_or_tenant_nobody_holds(config_copy: Path) -> None:
    path = without_jwt(config_copy) / "policies" / "gateway.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["rate_limits"]["roles"]["suport-agent"] = {"requests": 1, "per_s": 60}
    settings["rate_limits"]["tenants"]["acmee"] = {"requests": 1, "per_s": 60}
    path.write_text(yaml.safe_dump(settings))
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 1
    assert "error: rate_limits.roles names role 'suport-agent', which no principal holds" in result.stdout
    assert "error: rate_limits.tenants names tenant 'acmee', which no principal holds" in result.stdout
    assert "policies/gateway.yaml:" in result.stdout


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("policies/model.conf", "[request_definition]\nr = sub, obj, act\n", "model.conf has no [policy_definition]"),
        ("tool_specs/clock.now.yaml", "name: [unclosed\n", "tool_specs/clock.now.yaml:2: error:"),
        ("policies/gateway.yaml", "principals: 7\n", "policies/gateway.yaml:1: error:"),
    ],
)
def test_check_reports_a_file_that_does_not_load(config_copy: Path, file: str, content: str, message: str) -> None:
    (config_copy / file).write_text(content)
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 1
    assert message in result.stdout


def test_check_reports_a_rule_with_the_wrong_number_of_fields(config_copy: Path) -> None:
    line = append_rule(config_copy, "p, support-agent, acme, clock.now")
    result = callgate("check", "--config-dir", config_copy)
    assert result.returncode == 1
    assert f"policies/policy.csv:{line}: error: p rules have 6 fields" in result.stdout


# policy test


def test_the_shipped_table_passes_and_covers_every_demo_role_and_tool() -> None:
    result = callgate("test", "policies/tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("passed, 0 failed")
    cases = yaml.safe_load((REPO_ROOT / "policies" / "tests.yaml").read_text())["cases"]
    subjects = {"support-bot", "sales-bot", "finance-bot", "ops-admin"}
    tools = {path.stem for path in (REPO_ROOT / "tool_specs").glob("*.yaml")}
    covered = {(case["subject"], case["tool"]) for case in cases if "subject" in case}
    assert {(subject, tool) for subject in subjects for tool in tools} <= covered


def test_a_failing_case_is_printed_with_its_line_and_the_run_fails(config_copy: Path, tmp_path: Path) -> None:
    table = tmp_path / "cases.yaml"
    table.write_text(
        "cases:\n"
        "  - {subject: support-bot, tool: docs.search, arguments: {query: x}, expect: allow}\n"
        "  - name: support refunds\n"
        "    subject: support-bot\n"
        "    tool: billing.issue_refund\n"
        "    arguments: {customer_id: C1001, amount: 5, currency: EUR}\n"
        "    expect: allow\n"
    )
    result = callgate("test", table, "--config-dir", config_copy)
    assert result.returncode == 1
    assert "cases.yaml:3: support refunds: expected allow, got deny (denied by policies/policy.csv:" in result.stdout
    assert result.stdout.strip().endswith("1 passed, 1 failed")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("{subject: support-bot, tool: no.such_tool, expect: allow}", "cases.yaml:3: no tool is named 'no.such_tool'"),
        ("{subject: stranger, tool: clock.now, expect: deny}", "cases.yaml:3: subject 'stranger' is not a configured"),
        (
            "{subject: support-bot, tool: clock.now, expect: maybe}",
            "cases.yaml:3: cases[1].expect: 'maybe' is not one of",
        ),
    ],
)
def test_a_broken_case_is_an_error_in_the_table(tmp_path: Path, case: str, message: str) -> None:
    table = tmp_path / "cases.yaml"
    table.write_text(f"cases:\n  - {{subject: support-bot, tool: clock.now, expect: allow}}\n  - {case}\n")
    result = callgate("test", table)
    assert result.returncode == 2
    assert message in result.stderr


# policy explain


def test_explain_names_the_rule_that_allowed() -> None:
    # 150: above 200 the approve rule makes it APPROVE (tests/approvals/test_policy.py).
    result = callgate(
        "explain",
        "--subject",
        "finance-bot",
        "--tenant",
        "acme",
        "--tool",
        "billing.issue_refund",
        "--args",
        '{"customer_id": "C1001", "amount": 150, "currency": "USD"}',
    )
    assert result.returncode == 0
    first, rule = result.stdout.splitlines()[:2]
    assert first.startswith("ALLOW: allowed by policies/policy.csv:")
    assert "p, finance-agent, acme, billing.issue_refund, call, allow, r.args.amount <= 500" in rule


def test_explain_shows_the_rule_whose_condition_failed() -> None:
    result = callgate(
        "explain", "--subject", "finance-bot", "--tool", "billing.issue_refund",
        "--args", '{"customer_id": "C1001", "amount": 500.01, "currency": "EUR"}', "--json",
    )  # fmt: skip
    decision = json.loads(result.stdout)
    assert decision["decision"] == "deny"
    assert decision["reason"] == "denied: no rule allows it (deny by default)"
    assert [rule["file"] for rule in decision["considered"]] == ["policies/policy.csv"]


def test_explain_takes_roles_for_a_caller_no_api_key_describes() -> None:
    result = callgate(
        "explain", "--subject", "token-user", "--tenant", "acme", "--role", "support-agent", "--role", "sales-agent",
        "--tool", "billing.issue_refund", "--args", '{"amount": 1, "currency": "EUR"}',
    )  # fmt: skip
    assert result.stdout.startswith("DENY: denied by policies/policy.csv:")
    assert "roles    support-agent, sales-agent" in result.stdout


def test_explain_refuses_arguments_that_are_not_a_json_object() -> None:
    result = callgate("explain", "--subject", "finance-bot", "--tool", "clock.now", "--args", "[1]")
    assert result.returncode == 2
    assert "--args must be a JSON object" in result.stderr


def test_explain_says_the_rule_matched_through_a_role_and_shows_the_subject_as_user_name() -> None:
    result = callgate(
        "explain", "--subject", "finance-bot", "--tool", "billing.issue_refund",
        "--args", '{"customer_id": "C1001", "amount": 5, "currency": "EUR"}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "matched  through role finance-agent" in result.stdout
    assert "subject  user:finance-bot" in result.stdout


def test_explain_says_the_rule_matched_as_the_subject(config_copy: Path) -> None:
    line = append_rule(config_copy, "p, user:support-bot, acme, reports.daily, call, allow")
    result = callgate("explain", "--subject", "support-bot", "--tool", "reports.daily", "--config-dir", config_copy)
    assert result.stdout.startswith(f"ALLOW: allowed by policies/policy.csv:{line}, as subject user:support-bot")
    assert "matched  as subject user:support-bot" in result.stdout
    decision = json.loads(
        callgate(
            "explain", "--subject", "support-bot", "--tool", "reports.daily", "--config-dir", config_copy, "--json"
        ).stdout
    )
    assert decision["matched"] == {"as": "subject", "role": None}


def test_explain_refuses_a_role_spelled_like_a_subject() -> None:
    result = callgate(
        "explain", "--subject", "x", "--tenant", "acme", "--role", "user:ops-admin", "--tool", "clock.now"
    )
    assert result.returncode == 2
    assert "role names may not start with 'user:'" in result.stderr
