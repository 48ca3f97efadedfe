"""The request budget through a real gateway, with the memory store and with a real Redis."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import GatewayFactory, RunningGateway, copy_shipped_config
from tests.stages.test_ratelimit import HOUR, outcome
from tests.store.test_redis import dead_url

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


def config_with(root: Path, *, server: dict[str, Any] | None = None, rate_limits: dict[str, Any] | None = None) -> Path:
    """The shipped configuration with these ``server`` and ``rate_limits`` settings added or replaced."""
    copy_shipped_config(root)
    settings_path = root / "policies" / "gateway.yaml"
    settings = yaml.safe_load(settings_path.read_text())
    settings["server"].update(server or {})
    settings["rate_limits"].update(rate_limits or {})
    settings_path.write_text(yaml.safe_dump(settings))
    return root


def budget_of(requests: int) -> dict[str, Any]:
    return {"budget": {"requests": requests, "per_s": HOUR}}


@pytest.fixture(params=["memory", "redis"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment a gateway starts with: no Redis (memory store), or the suite's real Redis."""
    if request.param == "memory":
        return {}
    return {"CALLGATE_REDIS_URL": request.getfixturevalue("redis_url")}


def tools_call(tool: str, id: int = 1) -> dict[str, Any]:
    arguments = {"customer_id": "C1001"} if tool.startswith("crm.") else {"invoice_id": "INV-1", "amount": 1}
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def rpc(client: httpx.Client, gateway: RunningGateway, message: Any, role: str = "support-agent") -> Any:
    response = client.post(f"{gateway.url}/rpc", json=message, headers=gateway.headers(role))
    body = response.json()
    alone = body.get("error", {}).get("data", {}).get("reason") if isinstance(body, dict) else None
    assert response.status_code == (503 if alone == "store.unavailable" else 200)  # the store down, alone: 503
    return body


def test_a_loop_of_denied_calls_is_throttled_by_the_shipped_budget(gateway: RunningGateway) -> None:
    """A support agent calling billing.issue_refund in a loop is denied at least 200 times (the burst), then limited.

    The budget refills one call every 50 ms meanwhile, so the loop runs until the first limit, within bounds.
    """
    outcomes: list[str] = []
    with httpx.Client(timeout=10) as client:
        while "ratelimit.exceeded" not in outcomes and len(outcomes) < 2000:
            outcomes.append(outcome(rpc(client, gateway, tools_call("billing.issue_refund"))))
    assert outcomes[-1] == "ratelimit.exceeded"
    assert len(outcomes) > 200 and set(outcomes[:-1]) == {"policy.denied"}
    records = gateway.audit_records()
    assert len(records) == len(outcomes)  # exactly one record for each refusal, whichever stage refused
    assert [record["reason"] for record in records] == outcomes


def test_denied_calls_spend_the_budget_then_are_refused_with_when_to_retry(
    start_gateway: GatewayFactory, store_env: dict[str, str], tmp_path: Path
) -> None:
    gateway = start_gateway(config_with(tmp_path, rate_limits=budget_of(4)), **store_env)
    with httpx.Client(timeout=10) as client:
        bodies = [rpc(client, gateway, tools_call("billing.issue_refund")) for _ in range(6)]
        assert [outcome(body) for body in bodies] == ["policy.denied"] * 4 + ["ratelimit.exceeded"] * 2
        refusal = bodies[-1]["error"]
        assert refusal["code"] == -31429
        assert 0 < refusal["data"]["retry_after_s"] <= HOUR / 4
        # Spent: an allowed call is refused too, and another principal's budget is untouched.
        assert outcome(rpc(client, gateway, tools_call("crm.get_customer"))) == "ratelimit.exceeded"
        assert outcome(rpc(client, gateway, tools_call("crm.get_customer"), role="sales-agent")) == "ok"
    reasons = Counter(record["reason"] for record in gateway.audit_records())
    assert reasons == {"policy.denied": 4, "ratelimit.exceeded": 3, "ok": 1}


def test_an_unknown_tool_spends_the_budget_too(
    start_gateway: GatewayFactory, store_env: dict[str, str], tmp_path: Path
) -> None:
    gateway = start_gateway(config_with(tmp_path, rate_limits=budget_of(3)), **store_env)
    with httpx.Client(timeout=10) as client:
        unknown = [outcome(rpc(client, gateway, tools_call("no.such_tool"))) for _ in range(3)]
        assert unknown == ["protocol.invalid_params"] * 3
        assert outcome(rpc(client, gateway, tools_call("no.such_tool"))) == "ratelimit.exceeded"
        assert outcome(rpc(client, gateway, tools_call("crm.get_customer"))) == "ratelimit.exceeded"
    assert len(gateway.audit_records()) == 5


def test_every_call_of_a_batch_spends_the_budget(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    gateway = start_gateway(config_with(tmp_path, rate_limits=budget_of(5)))
    batch = [tools_call("billing.issue_refund", id=n) for n in range(8)]
    with httpx.Client(timeout=10) as client:
        answers = rpc(client, gateway, batch)
    assert [outcome(body) for body in answers] == ["policy.denied"] * 5 + ["ratelimit.exceeded"] * 3


def test_tools_list_initialize_and_ping_spend_the_same_budget(
    start_gateway: GatewayFactory, store_env: dict[str, str], tmp_path: Path
) -> None:
    gateway = start_gateway(config_with(tmp_path, rate_limits=budget_of(4)), **store_env)
    list_tools = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with httpx.Client(timeout=10) as client:
        assert "result" in rpc(client, gateway, list_tools)
        assert "result" in rpc(client, gateway, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
        opened = client.post(f"{gateway.url}/mcp", json=INIT, headers=gateway.headers())
        assert opened.status_code == 200 and "Mcp-Session-Id" in opened.headers
        session = {**gateway.headers(), "Mcp-Session-Id": opened.headers["Mcp-Session-Id"]}
        listed = client.post(f"{gateway.url}/mcp", json=list_tools, headers=session)
        assert listed.status_code == 200 and "result" in listed.json()
        # Four spent: whatever comes next from this principal is refused, on either endpoint.
        refused = client.post(f"{gateway.url}/mcp", json=list_tools, headers=session).json()
        assert refused["error"]["code"] == -31429 and refused["error"]["data"]["retry_after_s"] > 0
        assert outcome(rpc(client, gateway, list_tools)) == "ratelimit.exceeded"
        again = client.post(f"{gateway.url}/mcp", json=INIT, headers=gateway.headers())
        assert again.json()["error"]["code"] == -31429 and "Mcp-Session-Id" not in again.headers
        assert outcome(rpc(client, gateway, tools_call("crm.get_customer"))) == "ratelimit.exceeded"


def test_unreachable_redis_refuses_by_the_budget_as_store_unavailable(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Fail closed: with the store gone no budget can be spent, so nothing runs (audited, listing included)."""
    gateway = start_gateway(config_with(tmp_path), CALLGATE_REDIS_URL=dead_url())
    with httpx.Client(timeout=10) as client:
        for message in (tools_call("billing.issue_refund"), {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}):
            refused = rpc(client, gateway, message)["error"]
            assert refused["code"] == -31503 and refused["data"]["reason"] == "store.unavailable"
    assert [(record["event"], record["reason"]) for record in gateway.audit_records()] == [
        ("tools/call", "store.unavailable"),
        ("tools/list", "store.unavailable"),
    ]
