"""kill -9 a real ``callgate serve`` while calls are in flight: every answered call has its record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from gateway.audit.verify import verify
from gateway.serving import free_port
from tests.audit.checks import trail_records
from tests.audit.trail import KEY
from tests.conftest import REPO_ROOT, is_ready

THREADS = 8
ANSWERS_BEFORE_KILL = 400


def serve(audit_dir: Path, backend_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "CALLGATE_DEMO_BACKEND_URL": backend_url,
        "CALLGATE_AUDIT_DIR": str(audit_dir),
        "CALLGATE_AUDIT_CHECKPOINT_KEY": KEY.hex(),
    }
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--config-dir", str(REPO_ROOT)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not is_ready(url):
        assert process.poll() is None, "callgate serve exited while starting"
        assert time.monotonic() < deadline, "callgate serve did not become ready within 60 s"
        time.sleep(0.1)
    return process, url


def test_a_killed_gateway_loses_no_answered_call_and_leaves_at_most_a_torn_tail(
    tmp_path: Path, backend_url: str, demo_keys: dict[str, str]
) -> None:
    audit_dir = tmp_path / "audit"
    process, url = serve(audit_dir, backend_url)
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def caller(index: int) -> None:
        headers = {"Authorization": f"Bearer {demo_keys['sales-agent']}"}
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "clock.now"}}
        with httpx.Client(timeout=5) as client:
            for n in range(100_000):
                if stop.is_set():
                    return
                request_id = f"crash-{index}-{n}"
                try:
                    response = client.post(f"{url}/rpc", json=message, headers={**headers, "X-Request-Id": request_id})
                    body = response.json()
                except (httpx.HTTPError, ValueError):
                    return  # the gateway is gone
                assert "result" in body or "error" in body
                with lock:
                    answered.append(request_id)

    threads = [threading.Thread(target=caller, args=(index,)) for index in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(answered) < ANSWERS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-flight: every caller has a request on the wire
        process.wait(timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert len(answered) >= ANSWERS_BEFORE_KILL

    recorded = {record.get("request_id") for record in trail_records_lenient(audit_dir)}
    lost = [request_id for request_id in answered if request_id not in recorded]
    assert not lost, f"{len(lost)} answered calls have no record, e.g. {lost[:3]}"

    # The next start vouches for where the killed chain ended; then the trail verifies.
    again, _ = serve(audit_dir, backend_url)
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
    report = verify(audit_dir, KEY)
    assert report.status in ("intact", "torn"), [str(finding) for finding in report.findings]
    assert len(report.chains) == 2
    starts = [record for record in trail_records_lenient(audit_dir) if record.get("seq") == 0]
    assert any(start["checkpoint"]["links"] for start in starts)


def trail_records_lenient(directory: Path) -> list[dict[str, object]]:
    """The trail's records, a torn last line left out (it was never acknowledged)."""
    try:
        return trail_records(directory)
    except ValueError:
        import json

        records: list[dict[str, object]] = []
        for segment in sorted(directory.glob("*.jsonl")):
            for line in segment.read_bytes().split(b"\n"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records
