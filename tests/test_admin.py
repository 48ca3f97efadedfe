"""``/admin/...``: open to the admin role only; a reload there answers what is now in force."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningGateway
from tests.test_reload import BROKEN_SPEC, DENY_CLOCK, clock_decision, copy_config, ready_version, reloadable_gateway

RELOAD = "/admin/policy/reload"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped configuration that only the admin endpoint reloads."""
    return copy_config(tmp_path, watch=False)


@pytest.fixture
def gateway(config_dir: Path, backend_url: str, demo_keys: dict[str, str], tmp_path: Path) -> Iterator[RunningGateway]:
    with reloadable_gateway(config_dir, backend_url, demo_keys, tmp_path / "audit") as running:
        yield running


def post_reload(gateway: RunningGateway, **headers: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}{RELOAD}", headers=headers, timeout=10)


def test_an_admin_reload_puts_the_edited_policy_in_force(gateway: RunningGateway, config_dir: Path) -> None:
    before = ready_version(gateway)
    with (config_dir / "policies" / "policy.csv").open("a") as policy:
        policy.write(DENY_CLOCK)
    assert clock_decision(gateway) == "allowed", "watching is off: nothing changes before the reload"
    response = post_reload(gateway, **gateway.headers("admin"))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "reloaded": True,
        "version": ready_version(gateway),
        "previous_version": before,
        "error": None,
        "restart_required": [],
    }
    assert body["version"] != before
    assert clock_decision(gateway) == "policy.denied"
    (record,) = [r for r in gateway.audit_records() if r["event"] == "config/reload"]
    assert (record["trigger"], record["subject"], record["outcome"]) == ("admin", "ops-admin", "success")


def test_a_broken_configuration_answers_422_and_names_the_file(gateway: RunningGateway, config_dir: Path) -> None:
    before = ready_version(gateway)
    (config_dir / "tool_specs" / "zz-broken.yaml").write_text(BROKEN_SPEC)
    response = post_reload(gateway, **gateway.headers("admin"))
    assert response.status_code == 422
    body = response.json()
    assert (body["reloaded"], body["version"], body["previous_version"]) == (False, before, before)
    assert "zz-broken.yaml:2" in body["error"]
    assert clock_decision(gateway) == "allowed"


def test_a_support_agent_may_not_reload(gateway: RunningGateway, config_dir: Path) -> None:
    with (config_dir / "policies" / "policy.csv").open("a") as policy:
        policy.write(DENY_CLOCK)
    response = post_reload(gateway, **gateway.headers("support-agent"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == -31403
    assert response.json()["error"]["data"]["reason"] == "policy.denied"
    assert clock_decision(gateway) == "allowed"
    (record,) = [r for r in gateway.audit_records() if r["event"] == "request/refused"]
    assert (record["method"], record["subject"], record["decision"]) == ("policy.reload", "support-bot", "refused")
    assert (record["transport"], record["reason"], record["http_status"]) == ("admin", "policy.denied", 403)


def test_a_caller_without_a_key_is_asked_to_authenticate(gateway: RunningGateway) -> None:
    response = post_reload(gateway)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == -31401


def test_an_unknown_key_is_refused_like_no_key(gateway: RunningGateway) -> None:
    assert post_reload(gateway, Authorization="Bearer cg_not_a_real_key").status_code == 401


def test_reload_takes_only_post(gateway: RunningGateway) -> None:
    response = httpx.get(f"{gateway.url}{RELOAD}", headers=gateway.headers("admin"), timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_a_browser_origin_cannot_reach_admin(gateway: RunningGateway) -> None:
    """The Origin check covers /admin: a page in an admin's browser cannot trigger a reload."""
    response = post_reload(gateway, **gateway.headers("admin"), Origin="https://evil.example")
    assert response.status_code == 403
    assert not [r for r in gateway.audit_records() if r["event"] == "config/reload"]


def test_settings_read_at_start_are_reported_as_needing_a_restart(gateway: RunningGateway, config_dir: Path) -> None:
    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    gateway_yaml.write_text(gateway_yaml.read_text().replace("max_body_bytes: 1048576", "max_body_bytes: 2048"))
    body = post_reload(gateway, **gateway.headers("admin")).json()
    assert (body["reloaded"], body["restart_required"]) == (True, ["server.max_body_bytes"])
    big = httpx.post(f"{gateway.url}/rpc", content=b" " * 4096, headers=gateway.headers(), timeout=10)
    assert big.status_code != 413, "the edge keeps the limit it started with"


def post_explain(gateway: RunningGateway, body: dict[str, object], role: str = "admin") -> httpx.Response:
    return httpx.post(f"{gateway.url}/admin/policy/explain", json=body, headers=gateway.headers(role), timeout=10)


def test_explain_names_the_rule_behind_an_argument_condition_denial(gateway: RunningGateway) -> None:
    body = {
        "subject": "finance-bot",
        "tool": "billing.issue_refund",
        "arguments": {"customer_id": "C1001", "amount": 900, "currency": "EUR"},
    }
    denied = post_explain(gateway, body).json()
    assert denied["decision"] == "deny"
    allowed = post_explain(gateway, {**body, "arguments": {**body["arguments"], "amount": 120}}).json()
    assert allowed["decision"] == "allow"
    assert "billing.issue_refund" in allowed["rule"]["text"]
    assert allowed["rule"]["line"] > 0


def test_explain_is_for_admins_only(gateway: RunningGateway) -> None:
    response = post_explain(gateway, {"subject": "support-bot", "tool": "docs.search"}, role="support-agent")
    assert response.status_code == 403


def test_explain_of_an_unknown_subject_without_roles_is_invalid_params(gateway: RunningGateway) -> None:
    response = post_explain(gateway, {"subject": "nobody", "tool": "docs.search"})
    assert response.json()["error"]["code"] == -32602
