"""Scale-out, tested: three ``callgate serve`` processes and one Redis on loopback behave as one gateway.

One test walks the whole story an operator relies on: one global rate limit across the processes, an
MCP session opened on one and used on the others, an approval granted through one and executed through
another exactly once (its replays raced on all three), a policy reload on all, and at the end (SIGTERM
to each) every process's own audit chain verifying, its final checkpoint signed.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.audit.verify import verify
from tests.processes import Served, serving
from tests.stages.test_ratelimit import HOUR, config_dir

#: Shared by every process, as the Kubernetes Secret shares them: checkpoints verify with one key,
#: and argument digests (which approvals are bound to) agree across processes.
CHECKPOINT_KEY = "cd" * 32
DIGEST_KEY = "ef" * 32
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


def tool_call(tool: str = "crm.get_customer", id: int = 2) -> dict[str, Any]:
    arguments = {"customer_id": "C1001"} if tool.startswith("crm.") else {"query": "refund"}
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def reason(body: dict[str, Any]) -> str:
    if "result" in body:
        return "ok"
    return str(body["error"]["data"]["reason"])


def shared_config(root: Path) -> Path:
    """The shipped configuration with a global limit of 9 calls an hour on crm.get_customer; no file watching."""
    config = config_dir(root, {}, {"crm.get_customer": {"requests": 9, "per_s": HOUR}})
    gateway_yaml = config / "policies" / "gateway.yaml"
    settings = yaml.safe_load(gateway_yaml.read_text())
    settings["server"]["watch_config"] = False
    gateway_yaml.write_text(yaml.safe_dump(settings))
    return config


def global_rate_limit(urls: list[str], headers: dict[str, str]) -> None:
    def post(index: int) -> str:
        return reason(
            httpx.post(f"{urls[index % 3]}/rpc", json=tool_call(id=index), headers=headers, timeout=30).json()
        )

    with ThreadPoolExecutor(max_workers=9) as pool:
        outcomes = Counter(pool.map(post, range(15)))
    assert outcomes == {"ok": 9, "ratelimit.exceeded": 6}  # 15 calls over 3 processes: 9 allowed in all


def session_across_processes(urls: list[str], headers: dict[str, str]) -> None:
    opened = httpx.post(f"{urls[0]}/mcp", json=INIT, headers=headers, timeout=30)
    assert opened.status_code == 200
    session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
    for index, url in enumerate(urls[1:]):
        answered = httpx.post(f"{url}/mcp", json=tool_call("docs.search", id=10 + index), headers=session, timeout=30)
        assert answered.status_code == 200 and answered.json()["result"]["isError"] is False


REFUND = {"customer_id": "C1001", "amount": 450, "currency": "EUR", "reason": "contract ended"}


def refund_call(id: int, approval_id: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "billing.issue_refund", "arguments": REFUND}
    if approval_id is not None:
        params["_meta"] = {"callgate/approval_id": approval_id}
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}


def approval_across_processes(urls: list[str], keys: dict[str, str]) -> str:
    """A refund parked on one process, approved through another, and its replays raced on all three: one runs."""
    agent = {"Authorization": f"Bearer {keys['finance-agent']}"}
    parked = httpx.post(f"{urls[0]}/rpc", json=refund_call(30), headers=agent, timeout=30).json()
    assert parked["error"]["code"] == -31202, parked
    approval_id = str(parked["error"]["data"]["approval_id"])
    approver = {"Authorization": f"Bearer {keys['finance-approver']}"}
    listed = httpx.get(f"{urls[2]}/admin/approvals", headers=approver, timeout=30).json()["approvals"]
    assert [a["approval_id"] for a in listed] == [approval_id]  # the request is in Redis, seen from every process
    approved = httpx.post(
        f"{urls[1]}/admin/approvals/{approval_id}/approve", json={"reason": "agreed"}, headers=approver, timeout=30
    )
    assert approved.status_code == 200, approved.text

    def replay(index: int) -> str:
        url = urls[index % 3]
        return reason(
            httpx.post(f"{url}/rpc", json=refund_call(40 + index, approval_id), headers=agent, timeout=30).json()
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = Counter(pool.map(replay, range(6)))
    assert outcomes == {"ok": 1, "approval.used": 5}
    return approval_id


def reload_on_all(served: list[Served], config: Path, keys: dict[str, str]) -> None:
    """A new rule (support agents may no longer search documents), reloaded on every process."""
    with (config / "policies" / "policy.csv").open("a") as policy:
        policy.write("\np, support-agent, acme, docs.search, call, deny\n")
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    versions = set()
    for process in served:
        answer = httpx.post(f"{process.url}/admin/policy/reload", headers=admin, timeout=30).json()
        assert answer["reloaded"] is True
        versions.add(answer["version"])
        assert httpx.get(f"{process.url}/readyz", timeout=10).json()["config_version"] == answer["version"]
    assert len(versions) == 1  # the same files, the same version everywhere
    support = {"Authorization": f"Bearer {keys['support-agent']}"}
    for process in served:
        refused = httpx.post(f"{process.url}/rpc", json=tool_call("docs.search"), headers=support, timeout=30)
        assert reason(refused.json()) == "policy.denied"


@pytest.mark.redis
def test_three_processes_with_one_redis_act_as_one_gateway(
    redis_url: str, backend_url: str, demo_keys: dict[str, str], tmp_path: Path
) -> None:
    config = shared_config(tmp_path / "config")
    env = {
        "CALLGATE_DEMO_BACKEND_URL": backend_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_AUDIT_CHECKPOINT_KEY": CHECKPOINT_KEY,
        "CALLGATE_AUDIT_DIGEST_KEY": DIGEST_KEY,
    }
    support = {"Authorization": f"Bearer {demo_keys['support-agent']}"}
    with serving(config, tmp_path, env, count=3) as served:
        urls = [process.url for process in served]
        global_rate_limit(urls, support)
        session_across_processes(urls, support)
        approval_id = approval_across_processes(urls, demo_keys)
        reload_on_all(served, config, demo_keys)
        statuses = [process.terminate() for process in served]
    assert statuses == [0, 0, 0]
    chains, executed = set(), 0
    for process in served:
        records = [
            json.loads(line)
            for segment in sorted(process.audit_dir.glob("*.jsonl"))
            for line in segment.read_text().splitlines()
            if line
        ]
        executed += sum(1 for r in records if r["event"] == "approval/executed" and r.get("approval_id") == approval_id)
        report = verify(process.audit_dir, bytes.fromhex(CHECKPOINT_KEY))
        assert report.status == "intact", [str(finding) for finding in report.findings]
        assert len(report.chains) == 1
        chains.add(report.chains[0].chain)
    assert len(chains) == 3  # one chain per process
    assert executed == 1  # the approval ran once, on one of the three
