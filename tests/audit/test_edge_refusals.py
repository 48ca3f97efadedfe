"""Refusals at the edge and in the HTTP protocol leave one ``request/refused`` record each, before the answer.

Host and Origin (403), a declared body over the limit (413), a request head too large or with too many
fields (431) or too slow (408): each record names the source, the endpoint, the stable reason and which
limit refused (``detail``), under the request id the answer carries. Raw sockets, a real gateway.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.audit.refusals import PER_SOURCE_BURST, PER_SOURCE_RATE
from tests.conftest import GatewayFactory, RunningGateway
from tests.test_edge import MAX_BODY, configured, read_response

HEAD_TIMEOUT_S = 0.5


@pytest.fixture
def impatient(start_gateway: GatewayFactory, tmp_path: Path) -> RunningGateway:
    """A gateway that waits only HEAD_TIMEOUT_S for a request head (and for a body)."""
    return start_gateway(configured(tmp_path, header_read_timeout_s=HEAD_TIMEOUT_S, body_read_timeout_s=HEAD_TIMEOUT_S))


def connect(gateway: RunningGateway) -> socket.socket:
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=30)


def head(*lines: str, target: str = "POST /rpc") -> bytes:
    return ("\r\n".join([f"{target} HTTP/1.1", *lines]) + "\r\n\r\n").encode()


def refused(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    """The one record of ``request_id``; fails when there is none or more than one."""
    (record,) = [r for r in gateway.audit_records() if r.get("request_id") == request_id]
    assert record["event"] == "request/refused"
    assert (record["decision"], record["source"]) == ("refused", "127.0.0.1")
    return record


def assert_refusal(record: dict[str, Any], status: int, detail: str, endpoint: str = "rpc") -> None:
    assert (record["http_status"], record["detail"], record["transport"]) == (status, detail, endpoint)
    assert (record["reason"], record["code"]) == ("protocol.invalid_request", -32600)


def test_a_host_the_gateway_does_not_serve_is_audited(gateway: RunningGateway) -> None:
    headers = {"Host": "rebound.evil.example", "X-Request-Id": "host-1"}
    response = httpx.get(f"{gateway.url}/healthz", headers=headers, timeout=10)
    assert (response.status_code, response.headers["x-request-id"]) == (403, "host-1")
    assert_refusal(refused(gateway, "host-1"), 403, "host.not_allowed", endpoint="healthz")


def test_a_cross_site_origin_is_audited(gateway: RunningGateway) -> None:
    headers = gateway.headers(**{"Origin": "https://evil.example", "X-Request-Id": "origin-1"})
    response = httpx.post(f"{gateway.url}/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
    assert response.status_code == 403
    assert_refusal(refused(gateway, "origin-1"), 403, "origin.not_allowed")


def test_a_declared_body_over_the_limit_is_audited(gateway: RunningGateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(head("Host: 127.0.0.1", "X-Request-Id: big-1", f"Content-Length: {MAX_BODY + 1}"))
        response = read_response(sock)
    assert (response.status, response.headers["x-request-id"]) == (413, "big-1")
    assert_refusal(refused(gateway, "big-1"), 413, "body.too_large")


def test_a_path_is_never_written_as_the_endpoint(gateway: RunningGateway) -> None:
    """The path is the caller's text: only the endpoints callgate serves are named."""
    headers = {"Host": "evil.example", "X-Request-Id": "path-1"}
    httpx.get(f"{gateway.url}/jane.roe@example.com/x", headers=headers, timeout=10)
    assert refused(gateway, "path-1")["transport"] == "other"


def test_a_head_over_max_header_bytes_is_audited_under_its_request_id(gateway: RunningGateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(head("Host: 127.0.0.1", "X-Request-Id: head-big", "X-Pad: " + "a" * 20_000))
        response = read_response(sock)
    assert (response.status, response.headers["x-request-id"]) == (431, "head-big")
    assert_refusal(refused(gateway, "head-big"), 431, "head.too_large")


def test_a_head_with_too_many_fields_is_audited(gateway: RunningGateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(head("Host: 127.0.0.1", "X-Request-Id: head-many", *(f"X-F{i}: v" for i in range(100))))
        response = read_response(sock)
    assert response.status == 431
    assert_refusal(refused(gateway, "head-many"), 431, "head.too_many_fields")


def test_a_head_refused_without_a_request_id_gets_one_and_the_record_names_it(gateway: RunningGateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(head("Host: 127.0.0.1", "X-Pad: " + "a" * 20_000, target="GET /mcp"))
        response = read_response(sock)
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 16
    assert_refusal(refused(gateway, request_id), 431, "head.too_large", endpoint="mcp")


def test_a_head_that_stalls_is_audited_and_a_silent_connection_is_not(impatient: RunningGateway) -> None:
    with connect(impatient) as silent, connect(impatient) as slow:
        slow.sendall(b"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: slow-head\r\nX-Partial: ")
        response = read_response(slow)
        assert silent.recv(1) == b""  # closed, and never a request
    assert (response.status, response.headers["x-request-id"]) == (408, "slow-head")
    assert_refusal(refused(impatient, "slow-head"), 408, "head.timeout")
    assert [r["request_id"] for r in impatient.audit_records()] == ["slow-head"]


def test_a_flood_of_edge_refusals_writes_a_bounded_number_of_records(gateway: RunningGateway) -> None:
    """Past the per-source allowance refusals are counted, and the next record says how many were left out."""
    flood = PER_SOURCE_BURST + 30
    with httpx.Client(timeout=10) as client:
        for _ in range(flood):
            assert client.get(f"{gateway.url}/healthz", headers={"Host": "evil.example"}).status_code == 403
    written = [r for r in gateway.audit_records() if r["event"] == "request/refused"]
    assert PER_SOURCE_BURST <= len(written) < PER_SOURCE_BURST + 10 * PER_SOURCE_RATE
    time.sleep(1.5 / PER_SOURCE_RATE)  # one allowance refilled
    httpx.get(f"{gateway.url}/healthz", headers={"Host": "evil.example", "X-Request-Id": "after-flood"}, timeout=10)
    assert refused(gateway, "after-flood")["dropped"] == flood - len(written)
