"""The Casbin policy engine: deny by default, roles within tenants, deny beats allow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.auth import Principal
from gateway.config import load_config
from gateway.policy import PolicyEngine
from tests.conftest import REPO_ROOT, GatewayFactory


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies")
    shutil.copytree(REPO_ROOT / "tool_specs", tmp_path / "tool_specs")
    return tmp_path


def principal(subject: str, role: str, tenant: str = "acme") -> Principal:
    return Principal(subject=subject, tenant=tenant, roles=(role,), method="api_key")


def engine(config_dir: Path = REPO_ROOT) -> PolicyEngine:
    config = load_config(config_dir, env={})
    return PolicyEngine(config, config.gateway.api_keys)


def test_roles_allow_what_the_policy_lists() -> None:
    policy = engine()
    assert policy.allows(principal("support-bot", "support-agent"), "crm.get_customer", "call")
    assert policy.allows(principal("finance-bot", "finance-agent"), "billing.issue_refund", "call")
    assert not policy.allows(principal("support-bot", "support-agent"), "crm.update_email", "call")


def test_deny_rule_beats_a_broader_allow(config_copy: Path) -> None:
    policy_file = config_copy / "policies" / "policy.csv"
    policy_file.write_text(policy_file.read_text() + "p, support-agent, acme, *, call, allow\n")
    policy = engine(config_copy)
    support = principal("support-bot", "support-agent")
    assert policy.allows(support, "crm.update_email", "call")
    assert not policy.allows(support, "billing.issue_refund", "call")


def test_roles_hold_only_in_the_principals_tenant() -> None:
    policy = engine()
    assert not policy.allows(principal("support-bot", "support-agent", tenant="globex"), "crm.get_customer", "call")


def test_admin_wildcard_covers_every_tool() -> None:
    policy = engine()
    admin = principal("ops-admin", "admin")
    assert all(policy.allows(admin, name, "call") for name in load_config(REPO_ROOT, env={}).tools)


def test_empty_policy_denies_every_tool(config_copy: Path, start_gateway: GatewayFactory) -> None:
    (config_copy / "policies" / "policy.csv").write_text("# nothing is allowed\n")
    gateway = start_gateway(config_copy)
    for role in ("support-agent", "sales-agent", "finance-agent", "admin"):
        listed = gateway.rpc("tools/list", {}, role=role).json()["result"]["tools"]
        assert listed == []
        for name in load_config(config_copy, env={}).tools:
            error = gateway.rpc("tools/call", {"name": name, "arguments": {}}, role=role).json()["error"]
            assert (error["code"], error["data"]["reason"]) == (-31403, "policy.denied")


def test_denied_caller_learns_nothing_about_the_schema(start_gateway: GatewayFactory) -> None:
    """Authorization runs before validation: invalid arguments to a forbidden tool still read 'denied'."""
    gateway = start_gateway()
    error = gateway.rpc("tools/call", {"name": "billing.issue_refund", "arguments": {"bogus": 1}}).json()["error"]
    assert error["data"]["reason"] == "policy.denied"
    assert "errors" not in error["data"]


def test_decisions_are_cached_per_principal_and_tool() -> None:
    policy = engine()
    support = principal("support-bot", "support-agent")
    assert policy.allows(support, "docs.search", "call") == policy.allows(support, "docs.search", "call")
    assert not policy.allows(support, "docs.search", "list")
