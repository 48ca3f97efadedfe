"""``callgate approvals list|show|approve|deny`` against a running gateway, the approver's key in the environment."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.serving import free_port
from tests.approvals.conftest import AGENT, APPROVER, REFUND, Refunds, call, park, reason
from tests.conftest import GatewayFactory, RunningGateway

KEY_ENV = "CALLGATE_TEST_APPROVER_KEY"


def cli(gateway: RunningGateway, *args: str, role: str = APPROVER) -> Result:
    env = {KEY_ENV: gateway.keys[role], "CALLGATE_URL": gateway.url}
    return CliRunner().invoke(main, ["approvals", *args, "--key-env", KEY_ENV], env=env)


def test_an_approver_lists_shows_and_approves_and_the_call_runs_once(
    start_gateway: GatewayFactory, counting_backend: str, refunds: Refunds
) -> None:
    gateway = start_gateway(CALLGATE_DEMO_BACKEND_URL=counting_backend)
    agent = gateway.keys[AGENT]
    approval_id = park(gateway.url, agent)
    listed = cli(gateway, "list")
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "STATUS", "TOOL", "REQUESTER"]
    assert row.split()[:4] == [approval_id, "pending", "billing.issue_refund", "finance-bot"]
    shown = cli(gateway, "show", approval_id)
    assert shown.exit_code == 0
    assert f"approval   {approval_id}: pending, expires " in shown.stdout
    assert "  amount: 450" in shown.stdout and '  customer_id: "C1001"' in shown.stdout
    assert "why        policies/policy.csv:" in shown.stdout
    approved = cli(gateway, "approve", approval_id, "--reason", "customer confirmed")
    assert approved.exit_code == 0
    then = "the agent's next repeat of the call runs it, once"
    assert approved.stdout.strip() == f"approved {approval_id}: billing.issue_refund for finance-bot; {then}"
    assert cli(gateway, "list").stdout.strip() == "no requests waiting"
    assert reason(call(gateway.url, agent, approval_id=approval_id)) == "ok"
    everything = json.loads(cli(gateway, "list", "--all", "--json").stdout)
    (entry,) = everything["approvals"]
    assert (entry["status"], entry["decision"]["reason"], entry["decision"]["by"]) == (
        "executed",
        "customer confirmed",
        "finance-lead",
    )
    assert refunds.issued == 1


def test_deny_and_its_json(start_gateway: GatewayFactory, counting_backend: str) -> None:
    gateway = start_gateway(CALLGATE_DEMO_BACKEND_URL=counting_backend)
    approval_id = park(gateway.url, gateway.keys[AGENT], {**REFUND, "amount": 300})
    denied = cli(gateway, "deny", approval_id, "--reason", "duplicate", "--json")
    assert denied.exit_code == 0
    body = json.loads(denied.stdout)
    assert (body["approval_id"], body["status"], body["decision"]["decision"]) == (approval_id, "denied", "denied")
    assert reason(call(gateway.url, gateway.keys[AGENT], {**REFUND, "amount": 300}, approval_id=approval_id)) == (
        "approval.denied"
    )


def test_refusals_exit_1_with_the_reason(start_gateway: GatewayFactory, counting_backend: str) -> None:
    gateway = start_gateway(CALLGATE_DEMO_BACKEND_URL=counting_backend)
    approval_id = park(gateway.url, gateway.keys[AGENT])
    not_an_approver = cli(gateway, "approve", approval_id, role=AGENT)
    assert not_an_approver.exit_code == 1
    assert not_an_approver.stderr.startswith("callgate: refused: policy.denied: ")
    assert cli(gateway, "approve", approval_id).exit_code == 0
    twice = cli(gateway, "deny", approval_id)
    assert (twice.exit_code, twice.stderr.strip()) == (
        1,
        "callgate: refused: approval.conflict: The approval request is no longer pending (the request is approved)",
    )
    unknown = cli(gateway, "show", "apr-unknown")
    assert unknown.exit_code == 1 and "approval.not_found" in unknown.stderr


def test_no_key_or_no_gateway_exits_2(start_gateway: GatewayFactory, counting_backend: str) -> None:
    gateway = start_gateway(CALLGATE_DEMO_BACKEND_URL=counting_backend)
    runner = CliRunner()
    missing = runner.invoke(main, ["approvals", "list", "--key-env", "NOT_SET_ANYWHERE"], env={"NOT_SET_ANYWHERE": ""})
    assert missing.exit_code == 2 and "NOT_SET_ANYWHERE holds no key" in missing.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    down = runner.invoke(
        main, ["approvals", "list", "--url", nobody, "--key-env", KEY_ENV], env={KEY_ENV: gateway.keys[APPROVER]}
    )
    assert down.exit_code == 2 and "cannot reach the gateway" in down.stderr
