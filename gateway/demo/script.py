"""The demo story: several agents act through the gateway, and every kind of decision shows.

Starts the demo backends and the gateway on free loopback ports in this
process, runs a fixed sequence of calls, prints a trace, checks that each
outcome was the expected one and that each call left one audit record.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from agent_runtime import CallOutcome, GatewayClient
from gateway.app import create_app
from gateway.audit.chain import CHECKPOINT_KEY_VARIABLE, checkpoint_key
from gateway.audit.export import export
from gateway.audit.verify import verify
from gateway.config import load_config
from gateway.demo.approval_story import REFUND_TOOL, ApprovalStory, run_approval_story
from gateway.demo.backends import create_backend_app
from gateway.demo.keys import read_demo_keys
from gateway.demo.tokens import mint_demo_token
from gateway.serving import new_event_loop, serve_in_task


@dataclass(frozen=True)
class Step:
    role: str
    tool: str
    arguments: dict[str, Any]
    expect: str  # "allowed", "tool_error" or a refusal reason
    story: str
    key_override: str | None = field(default=None)
    #: Text the result must contain (and the trace shows): what personal-data scrubbing left of a value.
    shows: str | None = field(default=None)


#: An agent that authenticates with a JWT minted by the demo identity provider, not an API key.
JWT_AGENT = "support (JWT)"

STEPS = [
    Step(
        "support-agent",
        "crm.get_customer",
        {"customer_id": "C1001"},
        "allowed",
        "support looks a customer up and may see the email (a pii rule)",
        shows="ada@example.com",
    ),
    Step(
        "sales-agent",
        "crm.get_customer",
        {"customer_id": "C1001"},
        "allowed",
        "sales gets the same record, the email redacted on its way to the agent",
        shows="<EMAIL_ADDRESS>",
    ),
    Step(
        "support-agent",
        "docs.search",
        {"query": "refund to card 4111 1111 1111 1111"},
        "pii.blocked",
        "a card number in the arguments: refused before the backend sees it",
    ),
    Step(
        "support-agent",
        "billing.issue_refund",
        {"customer_id": "C1001", "amount": 50, "currency": "EUR"},
        "policy.denied",
        "support may never move money",
    ),
    Step(
        "finance-agent",
        "billing.issue_refund",
        {"customer_id": "C1001", "amount": 120, "currency": "EUR"},
        "allowed",
        "finance issues a refund; the card on file comes back masked",
        shows="***************4242",
    ),
    Step(
        "finance-agent",
        "billing.issue_refund",
        {"customer_id": "C1001", "amount": 900, "currency": "EUR"},
        "policy.denied",
        "an argument condition: finance refunds stop at 500",
    ),
    Step(
        JWT_AGENT,
        "docs.search",
        {"query": "refund policy"},
        "allowed",
        "an agent signed in with a JWT from the identity provider",
    ),
    Step(
        "sales-agent",
        "crm.update_email",
        {"customer_id": "C1002", "email": "not-an-address"},
        "schema.invalid",
        "a malformed email never reaches the CRM",
    ),
    Step(
        "sales-agent",
        "calendar.create_event",
        {"title": "Renewal call", "start": "2026-12-01T10:00:00Z"},
        "allowed",
        "sales books a meeting",
    ),
    Step(
        "sales-agent",
        "crm.delete_customer",
        {"customer_id": "C1003"},
        "protocol.invalid_params",
        "a tool that does not exist",
    ),
    Step(
        "support-agent",
        "crm.get_customer",
        {"customer_id": "C9999"},
        "tool_error",
        "the CRM answers 404: the model sees a tool error it can correct",
    ),
    Step("sales-agent", "reports.daily", {}, "backend.bad_response", "a backend that is down"),
    Step("sales-agent", "reports.daily", {}, "backend.bad_response", "down again: two failures open its circuit"),
    Step(
        "sales-agent",
        "reports.daily",
        {},
        "backend.unavailable",
        "circuit open: refused at once, the backend is left alone",
    ),
    Step("support-agent", "crm.get_customer", {"customer_id": "C1002"}, "allowed", "the CRM has its own circuit"),
    Step("support-agent", "clock.now", {"timezone": "Europe/Paris"}, "allowed", "an in-process tool"),
    Step("support-agent", "clock.now", {}, "allowed", "an agent polls the clock in a loop (2 of 3 at once)"),
    Step("support-agent", "clock.now", {}, "allowed", "and again (3 of 3)"),
    Step("support-agent", "clock.now", {}, "ratelimit.exceeded", "the tool's rate limit: wait before asking again"),
    Step(
        "support-agent",
        "crm.get_customer",
        {"customer_id": "C1001"},
        "auth.unauthenticated",
        "an agent with a made-up key",
        key_override="cg_not_a_real_key",
    ),
]


def run_demo(config_dir: Path, echo: Callable[[str], None] = click.echo) -> bool:
    """Run the story; True when every step ended as expected."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(_run(config_dir, echo))


async def _run(config_dir: Path, echo: Callable[[str], None]) -> bool:
    keys = read_demo_keys(config_dir)
    with tempfile.TemporaryDirectory(prefix="callgate-demo-") as scratch:
        async with serve_in_task(create_backend_app()) as backend_url:
            os.environ["CALLGATE_DEMO_BACKEND_URL"] = backend_url
            os.environ["CALLGATE_AUDIT_DIR"] = str(Path(scratch) / "audit")
            # Signed checkpoints, so the trail's verification at the end can prove that nothing was cut.
            os.environ.setdefault(CHECKPOINT_KEY_VARIABLE, secrets.token_hex(32))
            config = load_config(config_dir)
            keys[JWT_AGENT] = mint_demo_token(
                config, "crm-assistant", tenant="acme", roles=["support-agent"], on_behalf_of="user-4711"
            )
            async with serve_in_task(create_app(config)) as gateway_url:
                echo(f"callgate demo: backends at {backend_url}, gateway at {gateway_url}, config {config.version}\n")
                ok = await _steps(gateway_url, keys, echo)
                story = await run_approval_story(gateway_url, keys, echo)
            audit_lines = _audit_records(Path(scratch) / "audit")
        task_records = [
            r for r in audit_lines if story.conversation_id and r.get("conversation_id") == story.conversation_id
        ]
        story_ok = story.ok and _approval_trail(audit_lines, task_records, story, echo)
        audit_lines = [r for r in audit_lines if r not in task_records]
        counted = sum(1 for record in audit_lines if record.get("event") == "tools/call")
        calls = sum(1 for step in STEPS if step.expect != "auth.unauthenticated")
        # The made-up key's requests never reach a tool call; each is a request/refused record instead.
        refused = sum(1 for record in audit_lines if record.get("event") == "request/refused")
        echo(
            f"\naudit: {counted} tools/call records for {calls} authenticated tool calls "
            f"({'one each' if counted == calls else 'MISMATCH'}), "
            f"{refused} request/refused records for the unknown key's requests"
        )
        sample = next((r for r in audit_lines if r.get("decision") == "refused"), None)
        if sample is not None:
            echo("a refused call's audit record: " + json.dumps(sample, sort_keys=True))
        blocked = next((r for r in audit_lines if r.get("reason") == "pii.blocked"), None)
        if blocked is not None:
            echo("personal data in it, by type and count only: " + json.dumps(blocked.get("pii")))
        # Last: the trail checked as an auditor would, and handed over as a SIEM takes it.
        trail_ok = _verify_and_export(Path(scratch) / "audit", echo)
        return ok and story_ok and counted == calls and refused > 0 and trail_ok


async def _steps(gateway_url: str, keys: dict[str, str], echo: Callable[[str], None]) -> bool:
    echo(f"{'agent':<15} {'tool':<22} {'decision':<10} {'reason':<24} {'ms':>7}  story")
    echo("-" * 110)
    all_ok = True
    clients: dict[str, GatewayClient] = {}
    try:
        for step in STEPS:
            key = step.key_override or keys[step.role]
            client = clients.get(key)
            if client is None:
                client = clients[key] = GatewayClient(gateway_url, key)
                await client.connect()
            started = time.perf_counter()
            outcome = await client.call_tool(step.tool, step.arguments)
            elapsed = (time.perf_counter() - started) * 1000
            decision, reason = _classify(outcome)
            matched = reason == step.expect or decision == step.expect
            if step.shows is not None:
                matched &= step.shows in outcome.text
            all_ok &= matched
            who = "(unknown key)" if step.key_override else step.role
            mark = "" if matched else f"   <-- expected {step.expect}"
            story = step.story
            if step.shows is not None:
                story += f" [{step.shows}]"
            if outcome.retry_after_s is not None:
                story += f" (retry in {outcome.retry_after_s:g} s)"
            echo(f"{who:<15} {step.tool:<22} {decision:<10} {reason:<24} {elapsed:7.1f}  {story}{mark}")
    finally:
        for client in clients.values():
            await client.close()
    return all_ok


def _classify(outcome: CallOutcome) -> tuple[str, str]:
    if outcome.ok:
        if outcome.is_tool_error:
            text = outcome.text
            return (
                ("refused", "schema.invalid") if text.startswith("Invalid arguments") else ("tool_error", "tool_error")
            )
        return "allowed", "ok"
    return "refused", outcome.reason or "?"


def _approval_trail(
    records: list[dict[str, Any]], task_records: list[dict[str, Any]], story: ApprovalStory, echo: Callable[[str], None]
) -> bool:
    """The agent task on the audit trail: its calls found by conversation id, the approval's three events."""
    events = [
        r["event"] for r in records if r.get("approval_id") == story.approval_id and r["event"].startswith("approval/")
    ]
    executed = [
        r
        for r in task_records
        if r.get("event") == "tools/call" and r.get("tool") == REFUND_TOOL and r.get("decision") == "allowed"
    ]
    echo(
        f"\naudit: the agent task's {len(task_records)} records share conversation_id {story.conversation_id}; "
        f"approval {story.approval_id}: {', '.join(events)}; the refund executed {len(executed)} time(s)"
    )
    wanted = {"approval/requested", "approval/decided", "approval/executed"}
    return set(events) == wanted and events.count("approval/executed") == 1 and len(executed) == 1


def _verify_and_export(directory: Path, echo: Callable[[str], None]) -> bool:
    """The demo's own trail, as ``callgate audit verify`` and ``callgate audit export --format ocsf`` see it."""
    report = verify(directory, checkpoint_key(os.environ))
    echo(f"\naudit verify: {report.records} records in {len(report.chains)} chain(s): {report.status}")
    for finding in report.findings:
        echo(f"  {finding}")
    events = [json.loads(line) for line in export(directory, "ocsf")]
    echo(f"audit export --format ocsf: {len(events)} OCSF API Activity (6003) events; the first:")
    if events:
        echo(json.dumps(events[0], sort_keys=True))
    return report.status == "intact" and bool(events)


def _audit_records(directory: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for segment in sorted(directory.glob("*.jsonl")):
        records.extend(json.loads(line) for line in segment.read_text(encoding="utf-8").splitlines() if line)
    return [record for record in records if record.get("event") != "audit/checkpoint"]
