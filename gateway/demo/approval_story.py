"""The demo's agent task: the bundled runtime refunds above what it may alone, and a human approves.

The scripted model ``finance-refund-approval`` looks the customer up and refunds
450 EUR. The gateway parks the refund (-31202); the runtime's client keeps
repeating it with the approval id; the approver lists the waiting request over
``/admin/approvals`` and approves it with ``callgate approvals approve``, the CLI
as a security team would run it. The refund executes once; the same approval
replayed afterwards is refused.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from agent_runtime import Agent, Budget, GatewayClient, Trace, WaitPolicy
from agent_runtime.memory import MemoryConversationStore
from agent_runtime.models import load_model
from agent_runtime.trace import ToolEvent

SCRIPT = "finance-refund-approval"
TASK = "Customer C1001's contract ended: refund them 450 EUR."
REFUND_TOOL = "billing.issue_refund"
APPROVER_KEY_VARIABLE = "CALLGATE_DEMO_KEY_FINANCE_APPROVER"
#: How long the approver waits for the request to show up; far more than the agent's first turns take.
_APPEAR_WITHIN_S = 30.0


@dataclass
class ApprovalStory:
    """What the story showed, for the demo's summary and its checks against the audit trail."""

    ok: bool
    conversation_id: str | None = None
    approval_id: str | None = None


async def run_approval_story(gateway_url: str, keys: dict[str, str], echo: Callable[[str], None]) -> ApprovalStory:
    echo(f"\nan agent task, run by the bundled runtime (scripted model {SCRIPT}): {TASK!r}")
    model = load_model(f"scripted:{SCRIPT}", {})
    # Polls at 1 s: each repeat is a tools/call and spends finance-agent's rate limit like any other.
    waits = WaitPolicy(poll_s=1.0, max_approval_wait_s=60.0)
    async with GatewayClient(gateway_url, keys["finance-agent"], waits=waits) as client:
        agent = Agent(client, model, store=MemoryConversationStore(), budget=Budget(12, 20_000, 120.0))
        running = asyncio.create_task(agent.run(TASK))
        try:
            pending = await _first_pending(gateway_url, keys["finance-approver"])
            approval_id = str(pending["approval_id"])
            echo(
                f"approver finance-lead sees {approval_id}: {pending['tool']} for {pending['subject']}, "
                f"arguments {pending['arguments']}, expires {pending['expires_at']}"
            )
            approved = await _approve_with_cli(gateway_url, keys["finance-approver"], approval_id)
            echo(f"$ callgate approvals approve {approval_id} --reason ...\n{approved.rstrip()}")
            trace = await running
        finally:
            running.cancel()
            await model.aclose()
        echo(trace.render())
        replay = await client.call_tool(REFUND_TOOL, _refund_arguments(trace), approval_id=approval_id)
    replay_refused = not replay.ok and replay.reason == "approval.used"
    echo(
        f"the same approval replayed: {'refused' if not replay.ok else 'EXECUTED AGAIN'} "
        f"({replay.error_code} {replay.reason}){'' if replay_refused else '   <-- expected approval.used'}"
    )
    ok = trace.stop_reason == "answer" and "after approval" in (trace.answer or "") and replay_refused
    return ApprovalStory(ok, trace.conversation_id, approval_id)


async def _first_pending(gateway_url: str, approver_key: str) -> dict[str, Any]:
    """The approver's view of the first request waiting in its tenant, once the agent has made one."""
    headers = {"Authorization": f"Bearer {approver_key}"}
    give_up = time.monotonic() + _APPEAR_WITHIN_S
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers, trust_env=False, timeout=10) as http:
        while time.monotonic() < give_up:
            response = await http.get("/admin/approvals")
            response.raise_for_status()
            waiting = [a for a in response.json()["approvals"] if a["status"] == "pending"]
            if waiting:
                found: dict[str, Any] = waiting[0]
                return found
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no approval request appeared within {_APPEAR_WITHIN_S:g} s")


async def _approve_with_cli(gateway_url: str, approver_key: str, approval_id: str) -> str:
    """``callgate approvals approve``, run as its own process with the approver's key in the environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "approvals",
        "approve",
        approval_id,
        "--reason",
        "contract ended; refund agreed with the customer",
        "--url",
        gateway_url,
        "--key-env",
        APPROVER_KEY_VARIABLE,
        env={**os.environ, APPROVER_KEY_VARIABLE: approver_key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"callgate approvals approve exited {process.returncode}: {output.decode()}")
    return output.decode()


def _refund_arguments(trace: Trace) -> dict[str, Any]:
    """The arguments the agent sent with its refund, read back from its trace."""
    for event in trace.events:
        if isinstance(event, ToolEvent) and event.tool == REFUND_TOOL:
            return event.arguments
    raise RuntimeError("the agent never called the refund tool")
