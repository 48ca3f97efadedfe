"""Human approval through a real gateway: parked, decided by an approver, executed once, never for another call."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import yaml

from agent_runtime import GatewayClient, WaitPolicy
from tests.approvals.conftest import (
    AGENT,
    APPROVER,
    REFUND,
    ConfigCopy,
    Refunds,
    call,
    decide,
    listing,
    park,
    reason,
    show,
)
from tests.conftest import GatewayFactory, RunningGateway


def start(start_gateway: GatewayFactory, backend: str, config: ConfigCopy | None = None) -> RunningGateway:
    if config is None:
        return start_gateway(CALLGATE_DEMO_BACKEND_URL=backend)
    return start_gateway(config.path, CALLGATE_DEMO_BACKEND_URL=backend)


def test_an_approved_call_executes_once_and_its_replay_is_refused(
    start_gateway: GatewayFactory, counting_backend: str, refunds: Refunds
) -> None:
    gateway = start(start_gateway, counting_backend)
    agent, approver = gateway.keys[AGENT], gateway.keys[APPROVER]
    answer = call(gateway.url, agent)
    data = answer["error"]["data"]
    assert answer["error"]["code"] == -31202 and data["reason"] == "approval.pending"
    assert datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")).timestamp() > time.time()
    approval_id = data["approval_id"]
    assert refunds.issued == 0, "a parked call never reaches the backend"
    assert reason(call(gateway.url, agent, approval_id=approval_id)) == "approval.pending"
    approved = decide(gateway.url, approver, approval_id, why="contract ended, customer confirmed")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decision"]["by"]) == ("approved", "finance-lead")
    executed = call(gateway.url, agent, approval_id=approval_id)
    assert executed["result"]["structuredContent"]["amount"] == 450
    assert refunds.issued == 1
    replay = call(gateway.url, agent, approval_id=approval_id)
    assert (replay["error"]["code"], reason(replay)) == (-31403, "approval.used")
    assert refunds.issued == 1


def test_a_call_within_the_limit_runs_without_approval(start_gateway: GatewayFactory, counting_backend: str) -> None:
    gateway = start(start_gateway, counting_backend)
    assert reason(call(gateway.url, gateway.keys[AGENT], {**REFUND, "amount": 200})) == "ok"


def test_repeating_the_call_without_the_id_finds_the_same_request(
    start_gateway: GatewayFactory, counting_backend: str
) -> None:
    """An agent that polls without the id must not flood the store or the approvers' list."""
    gateway = start(start_gateway, counting_backend)
    agent = gateway.keys[AGENT]
    first = park(gateway.url, agent)
    assert park(gateway.url, agent) == first
    assert [a["approval_id"] for a in listing(gateway.url, gateway.keys[APPROVER]).json()["approvals"]] == [first]
    requested = [r for r in gateway.audit_records() if r["event"] == "approval/requested"]
    assert [r["approval_id"] for r in requested] == [first]


def test_concurrent_replays_of_one_approval_execute_once(
    start_gateway: GatewayFactory, counting_backend: str, refunds: Refunds
) -> None:
    gateway = start(start_gateway, counting_backend)
    agent = gateway.keys[AGENT]
    approval_id = park(gateway.url, agent)
    assert decide(gateway.url, gateway.keys[APPROVER], approval_id).status_code == 200
    with ThreadPoolExecutor(max_workers=12) as pool:
        # 16: within finance-agent's burst of 20, so the rate limit refuses none of them.
        answers = list(pool.map(lambda _: call(gateway.url, agent, approval_id=approval_id), range(16)))
    outcomes = sorted(reason(answer) for answer in answers)
    assert outcomes.count("ok") == 1
    assert set(outcomes) == {"ok", "approval.used"}
    assert refunds.issued == 1


def test_changed_arguments_do_not_match_the_approval(
    start_gateway: GatewayFactory, counting_backend: str, refunds: Refunds
) -> None:
    gateway = start(start_gateway, counting_backend)
    agent = gateway.keys[AGENT]
    approval_id = park(gateway.url, agent)
    decide(gateway.url, gateway.keys[APPROVER], approval_id)
    for changed in ({**REFUND, "amount": 499}, {**REFUND, "customer_id": "C1002"}, {**REFUND, "reason": "other"}):
        answer = call(gateway.url, agent, changed, approval_id=approval_id)
        assert (answer["error"]["code"], reason(answer)) == (-31403, "approval.mismatch")
    assert refunds.issued == 0
    assert reason(call(gateway.url, agent, approval_id=approval_id)) == "ok", "the approval is still good for its call"


def test_another_subject_cannot_use_the_approval(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy, refunds: Refunds
) -> None:
    other = config_copy.add_principal("finance-bot-2", AGENT)
    gateway = start(start_gateway, counting_backend, config_copy)
    approval_id = park(gateway.url, gateway.keys[AGENT])
    decide(gateway.url, gateway.keys[APPROVER], approval_id)
    assert reason(call(gateway.url, other, approval_id=approval_id)) == "approval.mismatch"
    assert refunds.issued == 0
    assert reason(call(gateway.url, gateway.keys[AGENT], approval_id=approval_id)) == "ok"


def test_an_unknown_approval_id_is_a_mismatch(start_gateway: GatewayFactory, counting_backend: str) -> None:
    gateway = start(start_gateway, counting_backend)
    answer = call(gateway.url, gateway.keys[AGENT], approval_id="apr-0123456789abcdef0123456789abcdef")
    assert (answer["error"]["code"], reason(answer)) == (-31403, "approval.mismatch")


def test_a_denied_call_is_refused_and_never_runs(
    start_gateway: GatewayFactory, counting_backend: str, refunds: Refunds
) -> None:
    gateway = start(start_gateway, counting_backend)
    agent = gateway.keys[AGENT]
    approval_id = park(gateway.url, agent)
    denied = decide(gateway.url, gateway.keys[APPROVER], approval_id, "deny", why="not in the contract")
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    answer = call(gateway.url, agent, approval_id=approval_id)
    assert (answer["error"]["code"], reason(answer)) == (-31403, "approval.denied")
    assert refunds.issued == 0
    again = decide(gateway.url, gateway.keys[APPROVER], approval_id)
    assert again.status_code == 409 and again.json()["error"]["data"]["status"] == "denied"


def test_an_expired_request_is_refused_and_cannot_be_decided(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy, refunds: Refunds
) -> None:
    config_copy.edit_gateway(approvals={"ttl_s": 1})
    gateway = start(start_gateway, counting_backend, config_copy)
    agent, approver = gateway.keys[AGENT], gateway.keys[APPROVER]
    undecided = park(gateway.url, agent)
    approved = park(gateway.url, agent, {**REFUND, "amount": 451})
    assert decide(gateway.url, approver, approved).status_code == 200
    time.sleep(1.5)
    assert reason(call(gateway.url, agent, approval_id=undecided)) == "approval.expired"
    late = call(gateway.url, agent, {**REFUND, "amount": 451}, approval_id=approved)
    assert (late["error"]["code"], reason(late)) == (-31403, "approval.expired")
    conflict = decide(gateway.url, approver, undecided)
    assert conflict.status_code == 409 and conflict.json()["error"]["data"]["status"] == "expired"
    assert refunds.issued == 0
    assert park(gateway.url, agent) != undecided, "a new request replaces the expired one"


def test_the_requester_never_approves_its_own_call(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy, refunds: Refunds
) -> None:
    """Even a principal that holds both the agent's role and the approver's."""
    both = config_copy.add_principal("finance-both", AGENT, APPROVER)
    gateway = start(start_gateway, counting_backend, config_copy)
    approval_id = park(gateway.url, both)
    refused = decide(gateway.url, both, approval_id)
    assert refused.status_code == 403
    assert refused.json()["error"]["data"]["reason"] == "approval.self"
    assert reason(call(gateway.url, both, approval_id=approval_id)) == "approval.pending"
    assert refunds.issued == 0
    assert all(a["approval_id"] != approval_id for a in listing(gateway.url, both).json()["approvals"])
    (record,) = [r for r in gateway.audit_records() if r["event"] == "request/refused"]
    assert (record["subject"], record["reason"], record["method"]) == (
        "finance-both",
        "approval.self",
        "approvals.approve",
    )
    # Another approver may.
    assert decide(gateway.url, gateway.keys[APPROVER], approval_id).status_code == 200


def test_only_approvers_of_the_tool_and_tenant_may_decide(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy
) -> None:
    outsider = config_copy.add_principal("globex-approver", APPROVER, tenant="globex")
    config_copy.add_rules("p, finance-approver, globex, billing.issue_refund, approve, allow")
    gateway = start(start_gateway, counting_backend, config_copy)
    approval_id = park(gateway.url, gateway.keys[AGENT])
    for role in (AGENT, "admin", "support-agent"):
        response = decide(gateway.url, gateway.keys[role], approval_id)
        assert response.status_code == 403, role
        assert listing(gateway.url, gateway.keys[role]).status_code == 403, role
    assert decide(gateway.url, outsider, approval_id).status_code == 404, "another tenant's request is not found"
    assert show(gateway.url, outsider, approval_id).status_code == 404
    assert listing(gateway.url, outsider).json() == {"approvals": []}
    assert decide(gateway.url, "not-a-key", approval_id).status_code == 401


def test_an_approver_sees_the_arguments_as_its_pii_rules_allow(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy
) -> None:
    """The approver judges the call; personal data in it is scrubbed for the approver's roles."""
    data = yaml.safe_load(config_copy.gateway_yaml.read_text())
    rule = {"tool": "billing.issue_refund", "roles": [APPROVER], "entities": {"EMAIL_ADDRESS": "allow"}}
    config_copy.edit_gateway(pii={"rules": [*data["pii"]["rules"], rule]})
    gateway = start(start_gateway, counting_backend, config_copy)
    note = "ada@example.com asks for DE89 3704 0044 0532 0130 00, not card 4111 1111 1111 1111"
    approval_id = park(gateway.url, gateway.keys[AGENT], {**REFUND, "reason": note})
    shown = show(gateway.url, gateway.keys[APPROVER], approval_id).json()
    # Email allowed for approvers; the IBAN redacted by default; the card (blocked in arguments) redacted here.
    assert shown["arguments"]["reason"] == "ada@example.com asks for <IBAN_CODE>, not card <CREDIT_CARD>"
    assert shown["arguments"]["amount"] == 450
    assert (shown["status"], shown["subject"], shown["tool"]) == ("pending", "finance-bot", "billing.issue_refund")
    assert shown["required_by"].startswith("policies/policy.csv:")
    decided = decide(gateway.url, gateway.keys[APPROVER], approval_id).json()
    assert decided["arguments"] is None, "a decision drops the stored arguments"


def test_requested_decided_and_executed_are_separate_audit_events_without_values(
    start_gateway: GatewayFactory, counting_backend: str
) -> None:
    gateway = start(start_gateway, counting_backend)
    agent = gateway.keys[AGENT]
    approval_id = park(gateway.url, agent)
    decide(gateway.url, gateway.keys[APPROVER], approval_id, why="Ada Lovelace asked on the phone")
    call(gateway.url, agent, approval_id=approval_id)
    records = gateway.audit_records()
    events = {r["event"]: r for r in records if r["event"].startswith("approval/")}
    assert set(events) == {"approval/requested", "approval/decided", "approval/executed"}
    assert {r["approval_id"] for r in events.values()} == {approval_id}
    assert events["approval/requested"]["subject"] == "finance-bot"
    decided = events["approval/decided"]
    assert (decided["subject"], decided["decision"], decided["reason"]) == (
        "finance-lead",
        "allowed",
        "approval.approved",
    )
    assert events["approval/executed"]["subject"] == "finance-bot"
    digests = {r["args_digest"] for r in events.values()}
    assert len(digests) == 1, "the three events are bound to the same arguments"
    calls = [r for r in records if r["event"] == "tools/call"]
    assert [r["reason"] for r in calls] == ["approval.pending", "ok"]
    assert calls[1]["approval_id"] == approval_id
    trail = "".join(path.read_text() for path in gateway.audit_dir.glob("*.jsonl"))
    for value in ("contract ended", "C1001", "Ada Lovelace"):
        assert value not in trail, value


def test_a_principal_cannot_park_more_than_its_share(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy
) -> None:
    config_copy.edit_gateway(approvals={"max_pending_per_principal": 2})
    gateway = start(start_gateway, counting_backend, config_copy)
    agent = gateway.keys[AGENT]
    park(gateway.url, agent, {**REFUND, "amount": 301})
    park(gateway.url, agent, {**REFUND, "amount": 302})
    answer = call(gateway.url, agent, {**REFUND, "amount": 303})
    assert (answer["error"]["code"], reason(answer)) == (-31429, "ratelimit.exceeded")
    assert answer["error"]["data"]["retry_after_s"] > 0


def test_two_approvers_racing_decide_once(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy
) -> None:
    second = config_copy.add_principal("finance-lead-2", APPROVER)
    gateway = start(start_gateway, counting_backend, config_copy)
    approval_id = park(gateway.url, gateway.keys[AGENT])
    keys = [gateway.keys[APPROVER], second] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(lambda key: decide(gateway.url, key, approval_id).status_code, keys))
    assert statuses == [200] + [409] * 7


def test_the_approvers_endpoints_answer_json_errors_for_unknown_paths(
    start_gateway: GatewayFactory, counting_backend: str
) -> None:
    gateway = start(start_gateway, counting_backend)
    headers = {"Authorization": f"Bearer {gateway.keys[APPROVER]}"}
    unknown = httpx.post(f"{gateway.url}/admin/approvals/apr-1/maybe", headers=headers, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32601
    missing = httpx.get(f"{gateway.url}/admin/approvals/apr-nothing", headers=headers, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["data"]["reason"] == "approval.not_found"


def test_a_risk_listed_in_require_for_risk_parks_every_call_to_such_tools(
    start_gateway: GatewayFactory, counting_backend: str, config_copy: ConfigCopy
) -> None:
    config_copy.edit_gateway(approvals={"require_for_risk": ["medium"]})
    config_copy.add_rules("p, finance-approver, acme, calendar.create_event, approve, allow")
    gateway = start(start_gateway, counting_backend, config_copy)
    sales = gateway.keys["sales-agent"]
    event = {"title": "Renewal call", "start": "2026-12-01T10:00:00Z"}
    approval_id = park(gateway.url, sales, event, tool="calendar.create_event")
    shown = show(gateway.url, gateway.keys[APPROVER], approval_id).json()
    assert shown["required_by"] == "policies/gateway.yaml"
    decide(gateway.url, gateway.keys[APPROVER], approval_id)
    assert reason(call(gateway.url, sales, event, approval_id=approval_id, tool="calendar.create_event")) == "ok"
    assert reason(call(gateway.url, sales, {"date": "2026-12-01"}, tool="calendar.list_events")) == "ok", "low risk"


def test_a_call_that_carries_an_approval_id_runs_only_by_claiming_it(
    start_gateway: GatewayFactory, counting_backend: str
) -> None:
    """Even one that needs no approval: a claimed approval that is not this call's is refused, never ignored."""
    gateway = start(start_gateway, counting_backend)
    agent = gateway.keys[AGENT]
    approval_id = park(gateway.url, agent)
    small = call(gateway.url, agent, {**REFUND, "amount": 20}, approval_id=approval_id)
    assert reason(small) == "approval.mismatch"
    assert reason(call(gateway.url, agent, {**REFUND, "amount": 20})) == "ok"


async def test_the_bundled_agent_client_waits_over_mcp_and_the_call_runs_once(
    start_gateway: GatewayFactory, counting_backend: str, refunds: Refunds
) -> None:
    """What the demo shows: the runtime's client polls with the id in _meta while a human approves."""
    gateway = start(start_gateway, counting_backend)

    def approve_when_asked() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = listing(gateway.url, gateway.keys[APPROVER]).json()["approvals"]
            if waiting:
                assert decide(gateway.url, gateway.keys[APPROVER], waiting[0]["approval_id"]).status_code == 200
                return
            time.sleep(0.05)

    waits = WaitPolicy(poll_s=0.5, max_approval_wait_s=60)
    async with GatewayClient(gateway.url, gateway.keys[AGENT], waits=waits) as client:
        assert (await client.connect()).ok
        approver = asyncio.create_task(asyncio.to_thread(approve_when_asked))
        outcome = await client.call_tool_waiting("billing.issue_refund", REFUND)
        await approver
    assert outcome.ok, outcome
    assert outcome.waits and outcome.waits[0].reason == "approval.pending"
    assert refunds.issued == 1


def test_the_pending_gauge_counts_what_waits_for_a_human(start_gateway: GatewayFactory, counting_backend: str) -> None:
    gateway = start(start_gateway, counting_backend)

    def pending() -> float:
        exposition = httpx.get(f"{gateway.url}/metrics", timeout=30).text
        line = next(x for x in exposition.splitlines() if x.startswith("callgate_approvals_pending "))
        return float(line.split()[1])

    assert pending() == 0
    approval_id = park(gateway.url, gateway.keys[AGENT])
    assert pending() == 1
    assert decide(gateway.url, gateway.keys[APPROVER], approval_id, "deny").status_code == 200
    assert pending() == 0
