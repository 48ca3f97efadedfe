"""SIGTERM stops ``callgate serve`` gracefully: no new connections, calls in flight finish, the trail closes, exit 0."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from gateway.audit.verify import verify
from tests.ops.slow import SLOW_TOOL, slow_config, wait_call
from tests.processes import serving

KEY = "ab" * 32  # CALLGATE_AUDIT_CHECKPOINT_KEY: checkpoints signed, so the trail's end is proven


def last_record(audit_dir: Path) -> dict[str, object]:
    lines = [line for path in sorted(audit_dir.glob("*.jsonl")) for line in path.read_text().splitlines() if line]
    return dict(json.loads(lines[-1]))


def refuses_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


def test_sigterm_lets_calls_in_flight_finish_refuses_new_connections_and_exits_0(
    backend_url: str, demo_keys: dict[str, str], tmp_path: Path
) -> None:
    env = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_CHECKPOINT_KEY": KEY}
    headers = {"Authorization": f"Bearer {demo_keys['support-agent']}"}
    with serving(slow_config(tmp_path), tmp_path, env) as [served], ThreadPoolExecutor(4) as pool:
        # Three calls that take 3 s each are in flight when SIGTERM arrives.
        pending = [
            pool.submit(httpx.post, f"{served.url}/rpc", json=wait_call(3, id=i), headers=headers, timeout=60)
            for i in range(3)
        ]
        deadline = time.monotonic() + 30
        while _in_flight(served.url) < 3:
            assert time.monotonic() < deadline, "the slow calls never reached the backend"
            time.sleep(0.05)
        stopping = pool.submit(served.terminate)
        deadline = time.monotonic() + 30
        while not refuses_connections(served.url):
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        assert not any(call.done() for call in pending), "the calls should still be running (3 s each)"
        answers = [call.result() for call in pending]
        assert stopping.result() == 0
    for answer in answers:
        assert answer.status_code == 200
        assert answer.json()["result"]["structuredContent"] == {"waited_s": 3}
    report = verify(served.audit_dir, bytes.fromhex(KEY))
    assert report.status == "intact", [str(finding) for finding in report.findings]
    final = last_record(served.audit_dir)
    assert final["event"] == "audit/checkpoint"
    assert isinstance(final["checkpoint"], dict) and final["checkpoint"]["reason"] == "shutdown"
    assert "SIGTERM" in served.log.read_text()


def test_calls_past_the_shutdown_bound_are_cancelled_and_audited(
    backend_url: str, demo_keys: dict[str, str], tmp_path: Path
) -> None:
    """server.shutdown_timeout_s bounds the wait: a 60 s call is cancelled, its record says so, exit is still 0."""
    env = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_CHECKPOINT_KEY": KEY}
    headers = {"Authorization": f"Bearer {demo_keys['support-agent']}"}
    config = slow_config(tmp_path, shutdown_timeout_s=1)
    with serving(config, tmp_path, env) as [served], ThreadPoolExecutor(2) as pool:
        pending = pool.submit(httpx.post, f"{served.url}/rpc", json=wait_call(60), headers=headers, timeout=90)
        deadline = time.monotonic() + 30
        while _in_flight(served.url) < 1:
            assert time.monotonic() < deadline, "the slow call never reached the backend"
            time.sleep(0.05)
        assert served.terminate(timeout_s=45) == 0
        with contextlib.suppress(httpx.TransportError):  # the connection may close with the call, unanswered
            pending.result()
    calls = [
        json.loads(line)
        for path in sorted(served.audit_dir.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line and json.loads(line).get("tool") == SLOW_TOOL
    ]
    assert [(record["decision"], record["reason"]) for record in calls] == [("cancelled", "cancelled")]
    assert verify(served.audit_dir, bytes.fromhex(KEY)).status == "intact"


def _in_flight(url: str) -> float:
    """Calls at the slow tool's backend now, from /metrics."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith('callgate_backend_in_flight{backend="python:tests.ops.slow:wait"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
