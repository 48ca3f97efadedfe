"""The HTTP protocol's limits on request heads (gateway/http_protocol.py), on a real server over raw sockets.

Heads too large or with too many fields are answered 431 before the rest is
read; heads too slow, or connections that send nothing, are closed, so that
they cannot hold ``limit_concurrency`` slots. No assertion here depends on how
long anything took beyond generous bounds: the server's deadlines are short,
the tests' waits long.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import load_config
from gateway.serving import serve_in_thread
from tests.conftest import REPO_ROOT
from tests.test_edge import RawResponse, assert_hung_up, configured, read_response

HEADER_READ_TIMEOUT_S = 0.5
WAIT_S = 10  # how long a test waits for what the server does within HEADER_READ_TIMEOUT_S


@contextlib.contextmanager
def gateway_at(config_dir: Path, backend_url: str, audit_dir: Path, **options: Any) -> Iterator[str]:
    environment = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(audit_dir)}
    with serve_in_thread(create_app(load_config(config_dir, env=environment), env=environment), **options) as url:
        yield url


@pytest.fixture(scope="module")
def shipped(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway with the shipped limits: 16 KiB and 100 fields per head."""
    with gateway_at(REPO_ROOT, backend_url, tmp_path_factory.mktemp("audit")) as url:
        yield url


@pytest.fixture
def impatient(backend_url: str, tmp_path: Path) -> Iterator[str]:
    """A gateway that waits only HEADER_READ_TIMEOUT_S for a head, with four connection slots."""
    config_dir = configured(tmp_path, header_read_timeout_s=HEADER_READ_TIMEOUT_S, timeout_keep_alive_s=300)
    with gateway_at(config_dir, backend_url, tmp_path / "audit", limit_concurrency=4, timeout_keep_alive=300) as url:
        yield url


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=WAIT_S)


def healthz_head(*extra: str) -> bytes:
    return ("\r\n".join(["GET /healthz HTTP/1.1", "Host: 127.0.0.1", *extra]) + "\r\n\r\n").encode()


def assert_head_refused(response: RawResponse, limit: str, value: int) -> None:
    assert response.status == 431, response.body
    assert response.headers["connection"] == "close"
    error = json.loads(response.body)["error"]
    assert error["code"] == -32600
    assert error["data"] == {"reason": "protocol.invalid_request", limit: value}


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes ``sock`` within WAIT_S (an end of stream or a reset); False if it stays open."""
    try:
        while True:
            chunk = sock.recv(65_536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# --- size and count (finding 4) ---------------------------------------------------------------


def test_head_over_max_header_bytes_is_431_before_it_ends(shipped: str) -> None:
    """The head never ends: the refusal cannot wait for the parser to report the header."""
    with connect(shipped) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 20_000 + b"\r\n")
        response = read_response(sock)
        assert_hung_up(sock)
    assert_head_refused(response, "max_header_bytes", 16_384)


def test_complete_head_over_max_header_bytes_in_one_read_is_431(shipped: str) -> None:
    with connect(shipped) as sock:
        sock.sendall(healthz_head("X-Pad: " + "a" * 17_000))
        response = read_response(sock)
    assert_head_refused(response, "max_header_bytes", 16_384)


def test_head_within_max_header_bytes_is_served(shipped: str) -> None:
    with connect(shipped) as sock:
        sock.sendall(healthz_head("X-Pad: " + "a" * 15_000))
        assert read_response(sock).status == 200


def test_more_than_max_headers_fields_is_431(shipped: str) -> None:
    with connect(shipped) as sock:
        sock.sendall(healthz_head(*(f"X-F{i}: v" for i in range(100))))  # and Host: 101
        response = read_response(sock)
    assert_head_refused(response, "max_headers", 100)


def test_max_headers_fields_are_served(shipped: str) -> None:
    with connect(shipped) as sock:
        sock.sendall(healthz_head(*(f"X-F{i}: v" for i in range(99))))
        assert read_response(sock).status == 200


def test_huge_head_is_cut_off_early_while_other_clients_are_served(shipped: str) -> None:
    """A 32 MiB header: the server stops reading it at once, and another client's probes keep being answered.

    The client's send buffer is small, so what it manages to send before the server closes is what
    the server accepted plus what the kernel buffers: far below the 32 MiB of the header.
    """
    statuses: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    statuses.append(client.get(f"{shipped}/healthz").status_code)
                except httpx.HTTPError as exc:
                    failures.append(exc)
                    return

    prober = threading.Thread(target=probe)
    prober.start()
    sent = 0
    try:
        with connect(shipped) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65_536)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
            chunk = b"a" * 65_536
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while sent < 32 * 1024 * 1024:
                    sent += sock.send(chunk)
        # The other client gets answers after the attack just as during it.
        time.sleep(0.2)
    finally:
        stop.set()
        prober.join(timeout=30)
    assert sent < 8 * 1024 * 1024, f"the server read {sent} bytes of one header"
    assert not failures
    assert statuses and set(statuses) == {200}


# --- slow and silent connections (finding 5) ----------------------------------------------------


def test_silent_and_slow_connections_are_closed_and_free_their_slots(impatient: str) -> None:
    """Four slots; three silent sockets and one dripping a head a byte at a time would hold them all for
    ever. The server closes the silent ones and answers the slow one 408, and then serves again."""
    silent = [connect(impatient) for _ in range(3)]
    slow = connect(impatient)
    try:
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        deadline = time.monotonic() + WAIT_S
        answered: list[socket.socket] = []
        while not answered and time.monotonic() < deadline:
            slow.sendall(b"X")  # a byte every tenth of a deadline: each one in time, the head never
            answered, _, _ = select.select([slow], [], [], HEADER_READ_TIMEOUT_S / 5)
        response = read_response(slow)
        assert all(closed_by_server(sock) for sock in silent)
        assert_hung_up(slow)
    finally:
        for sock in [*silent, slow]:
            sock.close()
    assert response.status == 408
    assert json.loads(response.body)["error"]["message"] == "Request headers not received in time"
    for _ in range(200):  # the server notices the closed sockets asynchronously
        if httpx.get(f"{impatient}/healthz", timeout=10).status_code == 200:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the server kept refusing after the slow connections were closed")


def test_keep_alive_request_that_stalls_in_its_head_is_408(impatient: str) -> None:
    """After a response the connection is idle under keep-alive (300 s here); once the next head begins,
    it must be complete within the head deadline."""
    with connect(impatient) as sock:
        sock.sendall(healthz_head())
        assert read_response(sock).status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        response = read_response(sock)
        assert_hung_up(sock)
    assert response.status == 408


def test_keep_alive_connection_serves_request_after_request(impatient: str) -> None:
    with connect(impatient) as sock:
        for _ in range(3):
            sock.sendall(healthz_head())
            assert read_response(sock).status == 200


def test_idle_keep_alive_connection_is_closed_after_timeout_keep_alive(backend_url: str, tmp_path: Path) -> None:
    config_dir = configured(tmp_path, header_read_timeout_s=300)
    with gateway_at(config_dir, backend_url, tmp_path / "audit", timeout_keep_alive=1) as url, connect(url) as sock:
        sock.sendall(healthz_head())
        assert read_response(sock).status == 200
        assert closed_by_server(sock)
