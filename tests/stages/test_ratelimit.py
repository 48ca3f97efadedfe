"""The rate-limit stage through a real gateway, with the memory store and with a real Redis."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import GatewayFactory, RunningGateway, copy_shipped_config
from tests.store.test_redis import dead_url

HOUR = 3600
MULTI_ROLE_KEY = "cg_test_support_and_sales_agent"
NO_ROLE_KEY = "cg_test_agent_without_listed_roles"


def config_dir(root: Path, rate_limits: dict[str, Any], tool_limits: dict[str, dict[str, Any]] | None = None) -> Path:
    """The shipped configuration with these rate limits, and two more agents: one with two roles, one with none."""
    copy_shipped_config(root)
    settings_path = root / "policies" / "gateway.yaml"
    settings = yaml.safe_load(settings_path.read_text())
    settings["rate_limits"] = rate_limits
    settings["principals"]["api_keys"] += [
        _key(MULTI_ROLE_KEY, "multi-bot", ["support-agent", "sales-agent"]),
        _key(NO_ROLE_KEY, "intern-bot", ["support-agent-trainee"]),
    ]
    settings_path.write_text(yaml.safe_dump(settings))
    with (root / "policies" / "policy.csv").open("a") as policy:
        policy.write("\np, support-agent-trainee, acme, crm.get_customer, call, allow\n")
    for tool, limit in (tool_limits or {}).items():
        spec_path = root / "tool_specs" / f"{tool}.yaml"
        spec = yaml.safe_load(spec_path.read_text())
        spec["rate_limit"] = limit
        spec_path.write_text(yaml.safe_dump(spec))
    return root


def _key(key: str, subject: str, roles: list[str]) -> dict[str, Any]:
    return {"subject": subject, "tenant": "acme", "roles": roles, "sha256": hashlib.sha256(key.encode()).hexdigest()}


def call(gateway: RunningGateway, tool: str = "crm.get_customer", *, role: str = "support-agent", key: str = "") -> Any:
    arguments = {"customer_id": "C1001"} if tool.startswith("crm.") else {}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    headers = {"Authorization": f"Bearer {key}"} if key else gateway.headers(role)
    response = httpx.post(f"{gateway.url}/rpc", json=message, headers=headers, timeout=10)
    body = response.json()
    alone = body.get("error", {}).get("data", {}).get("reason") if isinstance(body, dict) else None
    assert response.status_code == (503 if alone == "store.unavailable" else 200)  # the store down, alone: 503
    return body


def outcome(body: dict[str, Any]) -> str:
    return "ok" if "result" in body else body["error"]["data"]["reason"]


@pytest.fixture(params=["memory", "redis"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment a gateway starts with: no Redis (memory store), or the suite's real Redis."""
    if request.param == "memory":
        return {}
    return {"CALLGATE_REDIS_URL": request.getfixturevalue("redis_url")}


def test_the_store_in_use_is_reported_up(start_gateway: GatewayFactory, store_env: dict[str, str]) -> None:
    gateway = start_gateway(**store_env)
    kind = "redis" if store_env else "memory"
    assert f'callgate_store_up{{store="{kind}"}} 1.0' in httpx.get(f"{gateway.url}/metrics", timeout=10).text


def test_exactly_n_calls_pass_and_the_rest_are_told_when_to_retry(
    start_gateway: GatewayFactory, store_env: dict[str, str], tmp_path: Path
) -> None:
    limits = {"crm.get_customer": {"requests": 4, "per_s": HOUR}}
    gateway = start_gateway(config_dir(tmp_path, {}, limits), **store_env)
    bodies = [call(gateway) for _ in range(7)]
    assert [outcome(body) for body in bodies] == ["ok"] * 4 + ["ratelimit.exceeded"] * 3
    refusal = bodies[-1]["error"]
    assert refusal["code"] == -31429
    assert 800 < refusal["data"]["retry_after_s"] <= 900  # one call every 900 s once the burst is spent
    reasons = Counter(record["reason"] for record in gateway.audit_records())
    assert reasons == {"ok": 4, "ratelimit.exceeded": 3}


def test_each_agent_has_its_own_allowance_on_a_tool(
    start_gateway: GatewayFactory, store_env: dict[str, str], tmp_path: Path
) -> None:
    limits = {"crm.get_customer": {"requests": 2, "per_s": HOUR}}
    gateway = start_gateway(config_dir(tmp_path, {}, limits), **store_env)
    support = [outcome(call(gateway)) for _ in range(3)]
    sales = [outcome(call(gateway, role="sales-agent")) for _ in range(3)]
    assert support == sales == ["ok", "ok", "ratelimit.exceeded"]


def test_a_tenant_limit_holds_across_agents_and_tools(
    start_gateway: GatewayFactory, store_env: dict[str, str], tmp_path: Path
) -> None:
    gateway = start_gateway(config_dir(tmp_path, {"tenants": {"acme": {"requests": 3, "per_s": HOUR}}}), **store_env)
    outcomes = [
        outcome(call(gateway, "crm.get_customer")),
        outcome(call(gateway, "clock.now", role="sales-agent")),
        outcome(call(gateway, "crm.get_customer", role="sales-agent")),
        outcome(call(gateway, "clock.now")),
    ]
    assert outcomes == ["ok", "ok", "ok", "ratelimit.exceeded"]


def test_an_agent_with_several_roles_gets_the_most_generous(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    roles = {"support-agent": {"requests": 2, "per_s": HOUR}, "sales-agent": {"requests": 4, "per_s": HOUR}}
    gateway = start_gateway(config_dir(tmp_path, {"roles": roles}))
    assert [outcome(call(gateway, key=MULTI_ROLE_KEY)) for _ in range(5)] == ["ok"] * 4 + ["ratelimit.exceeded"]
    assert [outcome(call(gateway)) for _ in range(3)] == ["ok", "ok", "ratelimit.exceeded"]


def test_the_star_role_covers_agents_without_a_listed_role(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    roles = {"support-agent": {"requests": 100, "per_s": HOUR}, "*": {"requests": 1, "per_s": HOUR}}
    gateway = start_gateway(config_dir(tmp_path, {"roles": roles}))
    assert [outcome(call(gateway, key=NO_ROLE_KEY)) for _ in range(2)] == ["ok", "ratelimit.exceeded"]
    assert [outcome(call(gateway)) for _ in range(2)] == ["ok", "ok"]


def test_refused_calls_spend_no_allowance(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    """Calls refused before the limit (denied, invalid) are not counted; one refused by a limit is counted nowhere."""
    limits = {"crm.get_customer": {"requests": 2, "per_s": HOUR}}
    gateway = start_gateway(config_dir(tmp_path, {"tenants": {"acme": {"requests": 3, "per_s": HOUR}}}, limits))
    invalid = {"name": "crm.get_customer", "arguments": {"customer_id": "nope"}}
    assert gateway.rpc("tools/call", invalid).json()["error"]["data"]["reason"] == "schema.invalid"
    assert outcome(call(gateway, "billing.issue_refund")) == "policy.denied"
    assert [outcome(call(gateway)) for _ in range(3)] == ["ok", "ok", "ratelimit.exceeded"]
    assert outcome(call(gateway, "clock.now")) == "ok"  # the tenant's third call: the refusal above spent nothing
    assert outcome(call(gateway, "clock.now")) == "ratelimit.exceeded"


def test_unreachable_redis_refuses_limited_calls_and_lets_a_local_fallback_tool_decide(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    limits = {"clock.now": {"requests": 2, "per_s": HOUR, "when_store_unavailable": "local"}}
    gateway = start_gateway(
        config_dir(tmp_path, {"tenants": {"*": {"requests": 100, "per_s": 60}}}, limits), CALLGATE_REDIS_URL=dead_url()
    )
    refused = call(gateway)
    assert refused["error"]["code"] == -31503
    assert refused["error"]["data"]["reason"] == "store.unavailable"
    assert refused["error"]["data"]["retry_after_s"] > 0
    assert [outcome(call(gateway, "clock.now")) for _ in range(3)] == ["ok", "ok", "ratelimit.exceeded"]
    reasons = Counter(record["reason"] for record in gateway.audit_records())
    assert reasons == {"store.unavailable": 1, "ok": 2, "ratelimit.exceeded": 1}
    metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert 'callgate_store_up{store="redis"} 0.0' in metrics


def test_unreachable_redis_refuses_mcp_sessions_and_readiness(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(CALLGATE_REDIS_URL=dead_url())
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    response = httpx.post(f"{gateway.url}/mcp", json=init, headers=gateway.headers(), timeout=10)
    assert response.status_code == 503
    assert response.json()["error"]["data"]["reason"] == "store.unavailable"
    assert "Mcp-Session-Id" not in response.headers
    assert httpx.get(f"{gateway.url}/readyz", timeout=10).status_code == 503
