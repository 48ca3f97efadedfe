"""The shipped configuration: it loads, and the demo tells the whole story."""

from __future__ import annotations

from gateway.config import load_config
from gateway.demo.script import run_demo
from tests.conftest import REPO_ROOT, RunningGateway


def test_shipped_configuration_loads_every_demo_tool() -> None:
    config = load_config(REPO_ROOT, env={})
    assert {
        "crm.get_customer",
        "crm.update_email",
        "calendar.create_event",
        "calendar.list_events",
        "docs.search",
        "billing.issue_refund",
    } <= set(config.tools)
    assert config.tools["billing.issue_refund"].risk == "high"


def test_demo_runs_every_step_as_expected() -> None:
    lines: list[str] = []
    assert run_demo(REPO_ROOT, echo=lines.append), "\n".join(lines)
    assert any("policy.denied" in line for line in lines)


def test_allowed_call_returns_the_backend_result(gateway: RunningGateway) -> None:
    response = gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}})
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["name"] == "Ada Lovelace"
