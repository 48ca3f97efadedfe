"""The edge of the real gateway: hostile bodies, body limits, slow bodies, request ids, Host and Origin checks,
health probes.

Every hostile body must end as a clear JSON-RPC error (-32700 or -32600) or a
408/413/415 with a JSON-RPC error body: never a 500, never a stack trace.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import Listener, create_app
from gateway.config import ConfigError, load_config
from gateway.serving import serve_in_thread
from tests.conftest import REPO_ROOT, GatewayFactory, RunningGateway, copy_shipped_config

MAX_BODY = 1_048_576  # policies/gateway.yaml: server.max_body_bytes
MAX_STRING = 262_144  # policies/gateway.yaml: server.max_string_length
ENDPOINTS = ["/rpc", "/mcp"]


@pytest.fixture(scope="module")
def edge(
    backend_url: str, demo_keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """One gateway with the shipped configuration, shared by the tests here that leave no state behind."""
    audit_dir = tmp_path_factory.mktemp("audit")
    environment = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(audit_dir)}
    with serve_in_thread(create_app(load_config(REPO_ROOT, env=environment))) as url:
        yield RunningGateway(url=url, audit_dir=audit_dir, keys=demo_keys)


def post(
    gateway: RunningGateway,
    path: str,
    content: bytes | Iterator[bytes],
    content_type: str | None = "application/json",
    **headers: str,
) -> httpx.Response:
    all_headers = gateway.headers(**headers)
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return httpx.post(f"{gateway.url}{path}", content=content, headers=all_headers, timeout=30)


def assert_jsonrpc_error(response: httpx.Response, status: int, code: int) -> None:
    """``response`` is a plain JSON-RPC error with this status and code, showing nothing of the internals."""
    assert "Traceback" not in response.text
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    assert body["error"]["code"] == code


def ping_with(value: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"x":' + value + b"}}"


HOSTILE_BODIES = [
    pytest.param(b"this is not json", 400, -32700, id="not-json"),
    pytest.param(b'{"jsonrpc":"2.0","method":"ping","id":1', 400, -32700, id="truncated"),
    pytest.param(b'{"jsonrpc":"2.0","method":"p\xffing","id":1}', 400, -32700, id="invalid-utf8"),
    pytest.param(b"\xef\xbb\xbf" + b'{"jsonrpc":"2.0","method":"ping","id":1}', 400, -32700, id="utf8-bom"),
    pytest.param(b"[" * 10_000 + b"]" * 10_000, 400, -32600, id="10000-deep-arrays"),
    pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400, -32600, id="10000-deep-objects"),
    pytest.param(b"[" * 10_000, 400, -32600, id="10000-deep-unclosed"),
    pytest.param(b"[" * 65 + b"]" * 65, 400, -32600, id="just-over-max-depth"),
    pytest.param(ping_with(b"9" * 5_000), 400, -32700, id="5000-digit-integer"),
    pytest.param(b'{"jsonrpc":"2.0","method":"ping","id":' + b"9" * 5_000 + b"}", 400, -32700, id="5000-digit-id"),
    pytest.param(ping_with(b"NaN"), 400, -32700, id="nan"),
    pytest.param(ping_with(b"Infinity"), 400, -32700, id="infinity"),
    pytest.param(ping_with(b"-Infinity"), 400, -32700, id="minus-infinity"),
    pytest.param(ping_with(b"1e999"), 400, -32700, id="1e999"),
    pytest.param(ping_with(b"-1e999"), 400, -32700, id="minus-1e999"),
    pytest.param(b'{"jsonrpc":"2.0","method":"ping","id":"\\ud800"}', 400, -32700, id="lone-surrogate-id"),
    pytest.param(ping_with(b'"\\udfff"'), 400, -32700, id="lone-surrogate-param"),
    pytest.param(b"", 400, -32700, id="empty"),
    pytest.param(b"   \n\t ", 400, -32700, id="whitespace-only"),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("body", "status", "code"), HOSTILE_BODIES)
def test_hostile_body_is_a_clear_jsonrpc_error(
    edge: RunningGateway, path: str, body: bytes, status: int, code: int
) -> None:
    assert_jsonrpc_error(post(edge, path, body), status, code)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_lone_surrogate_in_a_tool_name_is_refused_before_the_pipeline(gateway: RunningGateway, path: str) -> None:
    """A string that cannot be written as UTF-8 would otherwise break the response and the audit record."""
    body = b'{"jsonrpc":"2.0","method":"tools/call","id":1,"params":{"name":"crm.\\ud800"}}'
    assert_jsonrpc_error(post(gateway, path, body), 400, -32700)
    # Refused as a parse error before any tool call: one request/refused record, and no tools/call record.
    assert [(r["event"], r["reason"]) for r in gateway.audit_records()] == [("request/refused", "protocol.parse")]


def test_properly_paired_surrogates_are_accepted(edge: RunningGateway) -> None:
    body = b'{"jsonrpc":"2.0","method":"ping","id":"\\ud83d\\ude00"}'
    assert post(edge, "/rpc", body).json() == {"jsonrpc": "2.0", "result": {}, "id": "\U0001f600"}


def test_nesting_at_the_depth_limit_is_accepted(edge: RunningGateway) -> None:
    """``max_json_depth`` is 64: the request object plus 63 nested arrays in params is fine."""
    params = b"[" * 63 + b"]" * 63
    body = b'{"jsonrpc":"2.0","method":"ping","id":1,"params":' + params + b"}"
    assert post(edge, "/rpc", body).json() == {"jsonrpc": "2.0", "result": {}, "id": 1}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_over_the_limit_is_413(edge: RunningGateway, path: str) -> None:
    body = b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"pad":"' + b"x" * MAX_BODY + b'"}}'
    response = post(edge, path, body)
    assert_jsonrpc_error(response, 413, -32600)
    assert response.json()["error"]["data"]["max_bytes"] == MAX_BODY
    assert response.headers["connection"] == "close"  # the rest of the body need not be taken in


@pytest.mark.parametrize("path", ENDPOINTS)
def test_chunked_body_over_the_limit_is_413(edge: RunningGateway, path: str) -> None:
    """Without a Content-Length the limit applies as the stream arrives."""

    def chunks() -> Iterator[bytes]:
        yield b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"pad":"'
        for _ in range(MAX_BODY // 65_536 + 2):
            yield b"x" * 65_536
        yield b'"}}'

    response = post(edge, path, chunks())
    assert_jsonrpc_error(response, 413, -32600)
    assert response.headers["connection"] == "close"


def test_chunked_body_under_the_limit_is_served(edge: RunningGateway) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"jsonrpc":"2.0",'
        yield b'"method":"ping","id":1}'

    assert post(edge, "/rpc", chunks()).json() == {"jsonrpc": "2.0", "result": {}, "id": 1}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "params",
    [
        pytest.param(b'{"note":"' + b"x" * (MAX_STRING + 1) + b'"}', id="value"),
        pytest.param(b'{"' + b"x" * (MAX_STRING + 1) + b'":1}', id="object-key"),
        pytest.param(b'[["a",["' + b"x" * (MAX_STRING + 1) + b'"]]]', id="nested"),
    ],
)
def test_string_over_the_limit_is_400_naming_the_limit_not_the_content(
    edge: RunningGateway, path: str, params: bytes
) -> None:
    response = post(edge, path, b'{"jsonrpc":"2.0","method":"ping","id":1,"params":' + params + b"}")
    assert_jsonrpc_error(response, 400, -32600)
    assert response.json()["error"]["data"]["detail"] == f"JSON string or key longer than {MAX_STRING} characters"
    assert "xxxx" not in response.text


def test_string_at_the_limit_is_accepted(edge: RunningGateway) -> None:
    body = b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"note":"' + b"x" * MAX_STRING + b'"}}'
    assert post(edge, "/rpc", body).json() == {"jsonrpc": "2.0", "result": {}, "id": 1}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_wrong_content_type_is_415(edge: RunningGateway, path: str, content_type: str) -> None:
    response = post(edge, path, b'{"jsonrpc":"2.0","method":"ping","id":1}', content_type=content_type)
    assert_jsonrpc_error(response, 415, -32700)


def test_json_content_type_with_charset_is_accepted(edge: RunningGateway) -> None:
    body = b'{"jsonrpc":"2.0","method":"ping","id":1}'
    response = post(edge, "/rpc", body, content_type="application/json; charset=utf-8")
    assert response.json() == {"jsonrpc": "2.0", "result": {}, "id": 1}


# --- slow bodies (raw sockets: an HTTP client library would not send a body this badly) --------

BODY_READ_TIMEOUT_S = 0.5
PING = b'{"jsonrpc":"2.0","method":"ping","id":1}'


def configured(root: Path, **server: Any) -> Path:
    """A copy of the shipped configuration with these ``server`` settings, and no file watching."""
    config_dir = copy_shipped_config(root / "config")
    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    text = gateway_yaml.read_text()
    for name, value in {"watch_config": False, **server}.items():
        line = f"  {name}: {json.dumps(value)}"
        text, found = re.subn(rf"(?m)^  {name}:.*$", line, text)
        if not found:
            text = text.replace("server:\n", f"server:\n{line}\n", 1)
    gateway_yaml.write_text(text)
    return config_dir


@pytest.fixture
def impatient(start_gateway: GatewayFactory, tmp_path: Path) -> RunningGateway:
    """A gateway that waits only ``BODY_READ_TIMEOUT_S`` for a request body."""
    return start_gateway(configured(tmp_path, body_read_timeout_s=BODY_READ_TIMEOUT_S))


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def connect(gateway: RunningGateway) -> socket.socket:
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    # The timeout only keeps a broken test from hanging; nothing here asserts how long anything took.
    return socket.create_connection((host, int(port)), timeout=30)


def request_head(gateway: RunningGateway, path: str, content_length: int | None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Authorization: Bearer {gateway.keys['support-agent']}",
        f"Content-Length: {content_length}" if content_length is not None else "Transfer-Encoding: chunked",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> RawResponse:
    """One response, read to the end of its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65_536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65_536)
        assert chunk, "connection closed inside the response body"
        body += chunk
    return RawResponse(int(status_line.split()[1]), headers, body)


def assert_hung_up(sock: socket.socket) -> None:
    """The server closed the connection: the next read finds its end (or its reset)."""
    # A reset instead of an orderly end is fine: the server closed with bytes of the slow body unread.
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(1) == b""


def assert_timed_out(response: RawResponse) -> None:
    """A 408 with a JSON-RPC error body that asks to close the connection."""
    assert response.status == 408, response.body
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert json.loads(response.body) == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32600,
            "message": "Request body not received in time",
            "data": {"reason": "protocol.invalid_request"},
        },
        "id": None,
    }


def assert_still_serving(gateway: RunningGateway) -> None:
    response = post(gateway, "/rpc", PING)
    assert response.json() == {"jsonrpc": "2.0", "result": {}, "id": 1}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_that_stalls_after_the_headers_is_408_and_the_connection_closed(
    impatient: RunningGateway, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(impatient) as sock:
        sock.sendall(request_head(impatient, path, content_length=len(PING)) + PING[:10])
        assert_timed_out(read_response(sock))
        assert_hung_up(sock)
    assert_still_serving(impatient)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_body_dripping_in_steadily_is_still_cut_off_at_the_deadline(impatient: RunningGateway) -> None:
    """Every byte comes well within the deadline, but the whole body never does: a slowloris body."""
    body = b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"pad":"' + b"x" * 1_000 + b'"}}'
    with connect(impatient) as sock:
        sock.sendall(request_head(impatient, "/rpc", content_length=len(body)))
        for byte in body:  # a byte every BODY_READ_TIMEOUT_S / 10: the whole body would take 50 deadlines
            sock.sendall(bytes([byte]))
            answered, _, _ = select.select([sock], [], [], BODY_READ_TIMEOUT_S / 10)
            if answered:
                break
        assert_timed_out(read_response(sock))
        assert_hung_up(sock)
    assert_still_serving(impatient)


def test_chunked_body_that_stalls_is_408(impatient: RunningGateway) -> None:
    """Without a Content-Length the body passes the streaming size limit first; the deadline still holds."""
    with connect(impatient) as sock:
        sock.sendall(request_head(impatient, "/rpc", content_length=None) + b"a\r\n" + PING[:10] + b"\r\n")
        assert_timed_out(read_response(sock))
        assert_hung_up(sock)


def test_body_in_pieces_within_the_deadline_is_served_and_the_connection_kept(edge: RunningGateway) -> None:
    """The shipped 10 s deadline: a body in three pieces, each waited for, is read whole and answered."""
    with connect(edge) as sock:
        sock.sendall(request_head(edge, "/rpc", content_length=len(PING)))
        for piece in (PING[:10], PING[10:20], PING[20:]):
            time.sleep(0.05)  # so that the gateway's read waits for each piece
            sock.sendall(piece)
        first = read_response(sock)
        sock.sendall(request_head(edge, "/rpc", content_length=len(PING)) + PING)
        second = read_response(sock)
    for response in (first, second):
        assert response.status == 200
        assert json.loads(response.body) == {"jsonrpc": "2.0", "result": {}, "id": 1}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unauthenticated_request_is_refused_without_waiting_for_its_body_and_the_connection_closed(
    edge: RunningGateway, path: str
) -> None:
    """Authentication comes first, so a stranger cannot make the gateway wait for a body; and since
    nobody reads the rest of it, the connection ends rather than let it drip in for ever."""
    head = request_head(edge, path, content_length=len(PING)).replace(
        edge.keys["support-agent"].encode(), b"cg_not_a_key_anyone_has"
    )
    with connect(edge) as sock:
        sock.sendall(head + PING[:10])
        response = read_response(sock)
        assert_hung_up(sock)
    assert response.status == 401
    assert response.headers["connection"] == "close"
    assert json.loads(response.body)["error"]["code"] == -31401


def test_wrong_method_with_a_body_is_405_and_the_connection_closed(edge: RunningGateway) -> None:
    head = request_head(edge, "/rpc", content_length=len(PING)).replace(b"POST /rpc", b"PUT /rpc")
    with connect(edge) as sock:
        sock.sendall(head + PING[:10])
        response = read_response(sock)
        assert_hung_up(sock)
    assert response.status == 405
    assert response.headers["connection"] == "close"


# --- limits read per request: a reload changes them ----------------------------------------------


def test_reload_changes_the_string_limit_and_says_uvicorn_limits_need_a_restart(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    config_dir = configured(tmp_path)
    gateway = start_gateway(config_dir)
    body = b'{"jsonrpc":"2.0","method":"ping","id":1,"params":{"note":"' + b"x" * 2_000 + b'"}}'
    assert post(gateway, "/rpc", body).json() == {"jsonrpc": "2.0", "result": {}, "id": 1}

    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    configured_text = gateway_yaml.read_text()
    changes = {"max_string_length": 1024, "limit_concurrency": 50, "timeout_keep_alive_s": 30}
    for name, value in changes.items():
        configured_text = re.sub(rf"(?m)^  {name}:.*$", f"  {name}: {value}", configured_text)
    gateway_yaml.write_text(configured_text)
    reload = httpx.post(f"{gateway.url}/admin/policy/reload", headers=gateway.headers("admin"), timeout=30).json()

    assert reload["reloaded"] is True
    assert sorted(reload["restart_required"]) == ["server.limit_concurrency", "server.timeout_keep_alive_s"]
    response = post(gateway, "/rpc", body)
    assert_jsonrpc_error(response, 400, -32600)
    assert response.json()["error"]["data"]["detail"] == "JSON string or key longer than 1024 characters"


# --- request ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["agent-7.run:42", "A" * 64, "0"])
def test_sane_request_id_is_echoed(edge: RunningGateway, request_id: str) -> None:
    response = post(edge, "/rpc", b'{"jsonrpc":"2.0","method":"ping","id":1}', **{"X-Request-Id": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    ["x" * 500, "A" * 65, "has spaces in it", "tab\there", "<script>alert(1)</script>", "a;b=c", "%0d%0aSet-Cookie"],
    ids=["500-chars", "65-chars", "spaces", "tab", "markup", "separators", "encoded-crlf"],
)
def test_hostile_request_id_is_replaced(edge: RunningGateway, request_id: str) -> None:
    response = post(edge, "/rpc", b'{"jsonrpc":"2.0","method":"ping","id":1}', **{"X-Request-Id": request_id})
    echoed = response.headers["x-request-id"]
    assert echoed != request_id
    assert len(echoed) == 16
    assert all(c in "0123456789abcdef" for c in echoed)


def test_request_id_is_made_when_none_is_given(edge: RunningGateway) -> None:
    first = post(edge, "/rpc", b'{"jsonrpc":"2.0","method":"ping","id":1}').headers["x-request-id"]
    second = post(edge, "/rpc", b'{"jsonrpc":"2.0","method":"ping","id":1}').headers["x-request-id"]
    assert first and second and first != second


def test_refusals_at_the_edge_carry_the_request_id(edge: RunningGateway) -> None:
    response = post(edge, "/rpc", b"x" * (MAX_BODY + 1), **{"X-Request-Id": "edge-1"})
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "edge-1"


# --- Origin -----------------------------------------------------------------------------------


INITIALIZE = b'{"jsonrpc":"2.0","method":"initialize","id":1,"params":{"protocolVersion":"2025-06-18"}}'


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "http://127.0.0.1.evil.example", "http://localhost.evil.example:8700", "file://"],
)
def test_disallowed_origin_is_403(edge: RunningGateway, path: str, origin: str) -> None:
    """The shipped configuration lists no browser origin: only loopback ones pass, on a loopback listener."""
    response = post(edge, path, INITIALIZE, Origin=origin)
    assert_jsonrpc_error(response, 403, -32600)
    assert response.json()["error"]["message"] == "Origin not allowed"


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1", "http://localhost:3000", "https://[::1]:8443", "HTTP://LOCALHOST"]
)
def test_loopback_origin_is_allowed_on_a_loopback_listener(edge: RunningGateway, origin: str) -> None:
    """A page on this machine, the gateway's own origin among them (the MCP conformance suite sends it)."""
    response = post(edge, "/mcp", INITIALIZE, Origin=origin)
    assert response.status_code == 200
    assert response.json()["result"]["protocolVersion"] == "2025-06-18"


def test_gateways_own_origin_is_allowed(edge: RunningGateway) -> None:
    response = post(edge, "/mcp", INITIALIZE, Origin=edge.url)
    assert response.status_code == 200


def test_request_without_origin_is_not_affected(edge: RunningGateway) -> None:
    body = b'{"jsonrpc":"2.0","method":"initialize","id":1,"params":{"protocolVersion":"2025-06-18"}}'
    response = post(edge, "/mcp", body)
    assert response.status_code == 200
    assert response.json()["result"]["protocolVersion"] == "2025-06-18"
    assert response.headers["mcp-session-id"]


# --- Host (DNS rebinding) ----------------------------------------------------------------------

EVERY_ENDPOINT = ["/healthz", "/readyz", "/metrics", "/rpc", "/mcp", "/admin/policy/reload", "/.well-known/x"]


@pytest.mark.parametrize("path", EVERY_ENDPOINT)
def test_request_naming_another_host_is_403_on_every_endpoint(edge: RunningGateway, path: str) -> None:
    """A page on evil.example, rebound to 127.0.0.1, sends Host: evil.example; it may read nothing."""
    response = httpx.get(f"{edge.url}{path}", headers={"Host": "evil.example"}, timeout=10)
    assert_jsonrpc_error(response, 403, -32600)
    assert response.json()["error"]["message"] == "Host not allowed"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8700", "LOCALHOST.", "[::1]:8700", "127.0.0.1:1"])
def test_loopback_host_names_are_served_on_a_loopback_listener(edge: RunningGateway, host: str) -> None:
    assert httpx.get(f"{edge.url}/healthz", headers={"Host": host}, timeout=10).status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.2", "evil.example:80", "127.0.0.1@evil.example", "[::1", "a b", ""])
def test_other_or_malformed_hosts_are_403(edge: RunningGateway, host: str) -> None:
    with connect(edge) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert read_response(sock).status == 403


def test_request_without_host_is_403(edge: RunningGateway) -> None:
    with connect(edge) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert read_response(sock).status == 403


@pytest.fixture(scope="module")
def exposed(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway as configured for 0.0.0.0 with allowed_hosts (and the demo credentials allowed), on loopback.

    It binds loopback only (no test listens elsewhere); the app is told it listens on 0.0.0.0.
    """
    root = tmp_path_factory.mktemp("exposed")
    config_dir = configured(
        root, allowed_hosts=["callgate.example.com", "*.corp.example"], allowed_origins=["https://app.example.com"]
    )
    environment = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(root / "audit")}
    listener = Listener("0.0.0.0", allow_demo_credentials=True)
    with serve_in_thread(create_app(load_config(config_dir, env=environment), environment, listener)) as url:
        yield url


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("callgate.example.com", 200),
        ("CallGate.Example.com:443", 200),
        ("api.corp.example", 200),
        ("a.b.corp.example:8700", 200),
        ("corp.example", 403),
        ("127.0.0.1", 403),
        ("localhost", 403),
        ("callgate.example.com.evil.example", 403),
    ],
)
def test_exposed_listener_serves_only_the_allowed_hosts(exposed: str, host: str, status: int) -> None:
    assert httpx.get(f"{exposed}/healthz", headers={"Host": host}, timeout=10).status_code == status


@pytest.mark.parametrize(("origin", "status"), [("https://app.example.com", 200), ("http://127.0.0.1", 403)])
def test_exposed_listener_allows_listed_origins_only(
    exposed: str, demo_keys: dict[str, str], origin: str, status: int
) -> None:
    headers = {
        "Host": "callgate.example.com",
        "Origin": origin,
        "Authorization": f"Bearer {demo_keys['support-agent']}",
        "Content-Type": "application/json",
    }
    assert httpx.post(f"{exposed}/mcp", content=INITIALIZE, headers=headers, timeout=10).status_code == status


def test_exposed_listener_without_allowed_hosts_does_not_build(tmp_path: Path) -> None:
    config = load_config(configured(tmp_path), env={})
    with pytest.raises(ConfigError) as caught:
        create_app(config, {}, Listener("0.0.0.0", allow_demo_credentials=True))
    assert caught.value.json_path == "$.server.allowed_hosts"
    assert "0.0.0.0" in str(caught.value)


# --- health probes ----------------------------------------------------------------------------


def test_healthz_answers_200_json(edge: RunningGateway) -> None:
    response = httpx.get(f"{edge.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_200_with_the_config_version(edge: RunningGateway) -> None:
    response = httpx.get(f"{edge.url}/readyz", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert isinstance(body["config_version"], str) and body["config_version"]
