"""``callgate serve`` as a real process: it answers with the shipped config, refuses a broken one, and sheds load."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.cli.serve import uvicorn_options
from gateway.config import load_config
from gateway.serving import free_port
from tests.conftest import REPO_ROOT, copy_shipped_config
from tests.test_edge import configured


@contextlib.contextmanager
def serving(config_dir: Path, backend_url: str, audit_dir: Path, *options: str) -> Iterator[str]:
    """``callgate serve`` in a process of its own, until its /readyz says ready; yields its URL."""
    port = free_port()
    env = {**os.environ, "CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(audit_dir)}
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--config-dir", str(config_dir), *options]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


@pytest.fixture
def served(backend_url: str, tmp_path: Path) -> Iterator[str]:
    with serving(REPO_ROOT, backend_url, tmp_path) as url:
        yield url


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
    copy_shipped_config(tmp_path)
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


# --- uvicorn's own limits, from policies/gateway.yaml -----------------------------------------------


def test_uvicorn_options_come_from_the_server_settings(tmp_path: Path) -> None:
    assert uvicorn_options(load_config(REPO_ROOT, env={})) == {"limit_concurrency": 1000, "timeout_keep_alive": 5}
    config_dir = configured(tmp_path, limit_concurrency=2, timeout_keep_alive_s=300)
    assert uvicorn_options(load_config(config_dir, env={})) == {"limit_concurrency": 2, "timeout_keep_alive": 300}


def get_healthz(url: str) -> tuple[socket.socket, int]:
    """A keep-alive connection that has had one answer (so the server holds it), and that answer's status."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65_536)
        assert chunk, "connection closed before a response"
        head += chunk
    return sock, int(head.split(b" ", 2)[1])


def test_serve_answers_503_at_once_beyond_limit_concurrency(backend_url: str, tmp_path: Path) -> None:
    """uvicorn counts open connections, the new one included: at 2, a second client gets 503 while one is held.

    The held connection is idle on keep-alive (300 s here), so the refusal cannot depend on timing.
    """
    config_dir = configured(tmp_path, limit_concurrency=2, timeout_keep_alive_s=300)
    with serving(config_dir, backend_url, tmp_path / "audit") as url:
        held, first = get_healthz(url)
        with held:
            excess, refused = get_healthz(url)
            excess.close()
        assert (first, refused) == (200, 503)
        # Once the server has seen both connections close, it serves again (polled: closing is asynchronous).
        for _ in range(200):
            if httpx.get(f"{url}/healthz", timeout=10).status_code == 200:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server kept refusing after the held connections closed")


def test_serve_with_workers_applies_limit_concurrency_in_each_worker(backend_url: str, tmp_path: Path) -> None:
    """Two workers, each allowing one held connection: of three held connections, one at least finds its
    worker full, whichever worker the kernel hands each one to."""
    config_dir = configured(tmp_path, limit_concurrency=2, timeout_keep_alive_s=300)
    with serving(config_dir, backend_url, tmp_path / "audit", "--workers", "2") as url:
        connections = [get_healthz(url) for _ in range(3)]
        for sock, _ in connections:
            sock.close()
    statuses = sorted(status for _, status in connections)
    assert statuses in ([200, 200, 503], [200, 503, 503])


# --- where the demo credentials may be served ---------------------------------------------------

#: TEST-NET-1 (RFC 5737): no machine has it, so nothing could listen there even if serve tried.
NOT_LOOPBACK = "192.0.2.1"


def serve_and_exit(*options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway", "serve", "--config-dir", str(REPO_ROOT), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_serve_refuses_the_demo_credentials_off_loopback() -> None:
    completed = serve_and_exit("--host", NOT_LOOPBACK)
    assert completed.returncode == 2, completed.stderr
    assert f"refusing to serve the published demo credentials on {NOT_LOOPBACK}" in completed.stderr
    assert "policies/demo-keys.env" in completed.stderr
    assert "demo-jwt-private.pem" in completed.stderr
    assert "callgate keys new" in completed.stderr
    assert "--allow-demo-credentials" in completed.stderr
    assert "Uvicorn running" not in completed.stderr


def test_serve_off_loopback_needs_allowed_hosts_even_for_an_exposed_demo() -> None:
    completed = serve_and_exit("--host", NOT_LOOPBACK, "--allow-demo-credentials")
    assert completed.returncode == 2, completed.stderr
    assert "server.allowed_hosts is empty" in completed.stderr


# --- the HTTP protocol's head limits, in the served process and its workers ---------------------


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_answers_431_to_a_head_over_max_header_bytes(backend_url: str, tmp_path: Path, workers: str) -> None:
    """`callgate serve` uses callgate's protocol, with the configured limit, in every worker."""
    config_dir = configured(tmp_path, max_header_bytes=1024)
    with serving(config_dir, backend_url, tmp_path / "audit", "--workers", workers) as url:
        for _ in range(4):  # connections land on either worker
            host, port = url.removeprefix("http://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 2_000 + b"\r\n\r\n")
                assert sock.recv(65_536).startswith(b"HTTP/1.1 431 ")
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
