"""The edge of the real gateway: hostile bodies, body limits, request ids, Origin checks, health probes.

Every hostile body must end as a clear JSON-RPC error (-32700 or -32600) or a
413/415 with a JSON-RPC error body: never a 500, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.app import create_app
from gateway.config import load_config
from gateway.serving import serve_in_thread
from tests.conftest import REPO_ROOT, RunningGateway

MAX_BODY = 1_048_576  # policies/gateway.yaml: server.max_body_bytes
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
    assert gateway.audit_records() == []


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


def test_chunked_body_under_the_limit_is_served(edge: RunningGateway) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"jsonrpc":"2.0",'
        yield b'"method":"ping","id":1}'

    assert post(edge, "/rpc", chunks()).json() == {"jsonrpc": "2.0", "result": {}, "id": 1}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_wrong_content_type_is_415(edge: RunningGateway, path: str, content_type: str) -> None:
    response = post(edge, path, b'{"jsonrpc":"2.0","method":"ping","id":1}', content_type=content_type)
    assert_jsonrpc_error(response, 415, -32700)


def test_json_content_type_with_charset_is_accepted(edge: RunningGateway) -> None:
    body = b'{"jsonrpc":"2.0","method":"ping","id":1}'
    response = post(edge, "/rpc", body, content_type="application/json; charset=utf-8")
    assert response.json() == {"jsonrpc": "2.0", "result": {}, "id": 1}


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


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1"])
def test_disallowed_origin_is_403(edge: RunningGateway, path: str, origin: str) -> None:
    """The shipped configuration allows no browser origin at all."""
    body = b'{"jsonrpc":"2.0","method":"initialize","id":1,"params":{"protocolVersion":"2025-06-18"}}'
    response = post(edge, path, body, Origin=origin)
    assert_jsonrpc_error(response, 403, -32600)


def test_request_without_origin_is_not_affected(edge: RunningGateway) -> None:
    body = b'{"jsonrpc":"2.0","method":"initialize","id":1,"params":{"protocolVersion":"2025-06-18"}}'
    response = post(edge, "/mcp", body)
    assert response.status_code == 200
    assert response.json()["result"]["protocolVersion"] == "2025-06-18"
    assert response.headers["mcp-session-id"]


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
