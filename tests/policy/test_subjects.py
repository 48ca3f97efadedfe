"""Subjects and roles are apart: no subject name can be taken for a role (gateway/policy/subjects.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.config import ConfigError, load_config
from gateway.policy.check import check_config
from tests.auth.tokens import demo_token
from tests.conftest import REPO_ROOT, GatewayFactory, RunningGateway
from tests.policy.conftest import engine, principal, with_policy

TOOLS = sorted(load_config(REPO_ROOT, env={}).tools)
REFUND = {"customer_id": "C1001", "amount": 5, "currency": "EUR"}


def arguments_for(tool: str) -> dict[str, Any]:
    return REFUND if tool == "billing.issue_refund" else {}


def rpc_with_token(gateway: RunningGateway, token: str, method: str, params: Any) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = httpx.post(f"{gateway.url}/rpc", json=message, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# Through a real gateway, with tokens from the demo identity provider


def test_a_token_with_subject_admin_and_no_roles_is_denied_every_tool_and_sees_none(
    start_gateway: GatewayFactory,
) -> None:
    gateway = start_gateway()
    for token in (demo_token(sub="admin", roles=None), demo_token(sub="admin", roles=[])):
        assert rpc_with_token(gateway, token, "tools/list", {})["result"]["tools"] == []
        for tool in TOOLS:
            answer = rpc_with_token(gateway, token, "tools/call", {"name": tool, "arguments": arguments_for(tool)})
            assert (answer["error"]["code"], answer["error"]["data"]["reason"]) == (-31403, "policy.denied"), tool


def test_a_token_with_subject_finance_agent_and_no_roles_cannot_refund(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway()
    bare = demo_token(sub="finance-agent", roles=None)
    answer = rpc_with_token(gateway, bare, "tools/call", {"name": "billing.issue_refund", "arguments": REFUND})
    assert answer["error"]["data"]["reason"] == "policy.denied"
    holding = demo_token(sub="finance-agent", roles=["finance-agent"])
    answer = rpc_with_token(gateway, holding, "tools/call", {"name": "billing.issue_refund", "arguments": REFUND})
    assert "result" in answer, answer


# The engine


@pytest.mark.parametrize("role", ["support-agent", "sales-agent", "finance-agent", "admin"])
def test_a_subject_named_like_a_role_holds_nothing_by_its_name(role: str) -> None:
    policy = engine()
    for tenant in ("acme", "globex"):
        bare = principal(role, tenant=tenant)
        for tool in TOOLS:
            assert not policy.allows(bare, tool, "call", arguments_for(tool)), (role, tool)
            assert not policy.allows(bare, tool, "list"), (role, tool)


def test_a_rule_for_one_subject_names_it_user_name(config_copy: Path) -> None:
    policy = engine(with_policy(config_copy, "p, user:support-bot, acme, reports.daily, call, allow"))
    assert policy.allows(principal("support-bot"), "reports.daily", "call")
    assert policy.allows(principal("support-bot", "support-agent"), "reports.daily", "call")
    assert not policy.allows(principal("other-bot", "support-agent"), "reports.daily", "call")
    assert not policy.allows(principal("support-bot", tenant="globex"), "reports.daily", "call")


def test_a_bare_name_in_a_rule_is_a_role_even_when_a_subject_has_that_name(config_copy: Path) -> None:
    policy = engine(with_policy(config_copy, "p, support-bot, acme, reports.daily, call, allow"))
    assert not policy.allows(principal("support-bot", "support-agent"), "reports.daily", "call")
    assert policy.allows(principal("anyone", "support-bot"), "reports.daily", "call")


def test_a_g_line_gives_one_subject_a_role(config_copy: Path) -> None:
    policy = engine(with_policy(config_copy, "g, user:lead-bot, finance-agent, acme"))
    assert policy.allows(principal("lead-bot"), "billing.issue_refund", "call", REFUND)
    assert not policy.allows(principal("lead-bot", tenant="globex"), "billing.issue_refund", "call", REFUND)
    assert not policy.allows(principal("other-bot"), "billing.issue_refund", "call", REFUND)


def test_a_role_spelled_like_a_subject_is_ignored_in_a_request(config_copy: Path) -> None:
    """A role claim "user:ops-admin" must not stand for the subject ops-admin (nor for anyone else)."""
    policy = engine(with_policy(config_copy, "p, user:ops-admin, acme, reports.daily, call, allow"))
    assert policy.allows(principal("ops-admin"), "reports.daily", "call")
    assert not policy.allows(principal("intruder", "user:ops-admin"), "reports.daily", "call")
    assert not policy.allows(principal("intruder", "user:ops-admin", "user:admin"), "clock.now", "call")


# Loading refuses role names spelled like subjects


def test_a_g_line_whose_role_is_spelled_like_a_subject_stops_the_load(config_copy: Path) -> None:
    policy_file = config_copy / "policies" / "policy.csv"
    line = len(policy_file.read_text().splitlines()) + 1
    with pytest.raises(ConfigError) as caught:
        engine(with_policy(config_copy, "g, finance-agent, user:ops-admin, acme"))
    assert (caught.value.file, caught.value.line) == (policy_file, line)
    assert "role names may not start with 'user:'" in caught.value.detail


@pytest.mark.parametrize(
    ("section", "key"), [("api_keys", "roles"), ("jwt", "allowed_roles")], ids=["api-key", "jwt-issuer"]
)
def test_a_configured_role_spelled_like_a_subject_stops_the_load(config_copy: Path, section: str, key: str) -> None:
    path = config_copy / "policies" / "gateway.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["principals"][section][0][key].append("user:ops-admin")
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        engine(config_copy)
    assert caught.value.file == path and caught.value.line is not None
    assert "user:ops-admin" in path.read_text().splitlines()[caught.value.line - 1]
    assert "role names may not start with 'user:'" in caught.value.detail


# policy check


def test_check_says_how_to_write_a_rule_for_a_subject(config_copy: Path) -> None:
    without_jwt(config_copy)
    with_policy(config_copy, "p, support-bot, acme, reports.daily, call, allow")
    findings = [finding for finding in check_config(config_copy) if finding.severity == "error"]
    assert [finding.message for finding in findings] == [
        "no principal holds 'support-bot' in tenant 'acme': the rule can never match; "
        "'support-bot' is a subject, and a rule for it names it 'user:support-bot'"
    ]


def test_check_counts_a_configured_subject_as_holding_its_user_name(config_copy: Path) -> None:
    without_jwt(config_copy)
    with_policy(
        config_copy,
        "p, user:support-bot, acme, reports.daily, call, allow",
        "g, user:sales-bot, finance-agent, acme",
    )
    assert [finding for finding in check_config(config_copy) if finding.severity == "error"] == []
    with_policy(config_copy, "p, user:support-bot, globex, reports.daily, call, allow")
    messages = [finding.message for finding in check_config(config_copy)]
    assert "no principal holds 'user:support-bot' in tenant 'globex': the rule can never match" in messages


def without_jwt(config_dir: Path) -> None:
    path = config_dir / "policies" / "gateway.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["principals"].pop("jwt", None)
    path.write_text(yaml.safe_dump(settings))
