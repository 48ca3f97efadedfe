"""``callgate serve`` as a real process: it answers with the shipped config, and refuses a broken one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.serving import bind_loopback
from tests.conftest import REPO_ROOT


def free_port() -> int:
    sock = bind_loopback(0)
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def served(backend_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--config-dir", str(REPO_ROOT)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_serve_answers_mcp_with_the_shipped_config(served: str, demo_keys: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {demo_keys['support-agent']}"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    response = httpx.post(f"{served}/mcp", json=init, headers=headers)
    assert response.status_code == 200
    session = {**headers, "Mcp-Session-Id": response.headers["mcp-session-id"]}
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "docs.search", "arguments": {"query": "refund"}},
    }
    result = httpx.post(f"{served}/mcp", json=call, headers=session).json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["results"][0]["title"] == "Refund policy"


def test_serve_refuses_to_start_on_a_broken_config(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies")
    shutil.copytree(REPO_ROOT / "tool_specs", tmp_path / "tool_specs")
    spec = tmp_path / "tool_specs" / "docs.search.yaml"
    spec.write_text(spec.read_text().replace("timeout_s: 5", "timeout_s: -1"))
    completed = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "docs.search.yaml:" in completed.stderr
    assert "$.timeout_s" in completed.stderr


def test_keys_new_prints_a_key_once_and_only_its_hash_for_the_config() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "new", "--subject", "bot", "--tenant", "acme", "--roles", "a,b"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = completed.stdout.split("store it now): ")[1].split()[0]
    from gateway.auth import hash_key

    assert f"sha256: {hash_key(key)}" in completed.stdout
    assert "roles: [a, b]" in completed.stdout
