"""Every call, allowed or refused, leaves exactly one audit record: one of each kind, counted by request id.

One real gateway is sent one request of every kind there is, allowed or refused at every place that
refuses: the HTTP protocol (head limits), the edge (Host, Origin, body size), the transport (credential,
media type, body, MCP session), the admin endpoints, and each stage of the pipeline. Each request has its
own X-Request-Id; the trail must then hold exactly one record under each.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import GatewayFactory, RunningGateway
from tests.test_edge import MAX_BODY, configured, read_response

TIMEOUT_S = 0.5
BAD_KEY = "cg_not-a-key-of-anyone-0000000000"


def message(method: str, params: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = params
    return body


def tool(name: str, arguments: Any, **params: Any) -> dict[str, Any]:
    return message("tools/call", {"name": name, "arguments": arguments, **params})


class Driver:
    """Sends requests to one gateway, each under its own request id, and remembers the ids and what came back."""

    def __init__(self, gateway: RunningGateway) -> None:
        self.gateway = gateway
        self.sent: dict[str, int] = {}
        self.client = httpx.Client(base_url=gateway.url, timeout=10)

    def post(self, request_id: str, path: str, body: Any, role: str | None = "support-agent", **headers: str) -> None:
        sent = {**(self.gateway.headers(role) if role else {}), **headers, "X-Request-Id": request_id}
        raw = isinstance(body, bytes | Iterator)  # an iterator goes chunked
        content, json_body = (body, None) if raw else (None, body)
        response = self.client.post(path, json=json_body, content=content, headers=sent)
        self.sent[request_id] = response.status_code

    def get(self, request_id: str, path: str, role: str | None = "support-agent", **headers: str) -> None:
        sent = {**(self.gateway.headers(role) if role else {}), **headers, "X-Request-Id": request_id}
        self.sent[request_id] = self.client.get(path, headers=sent).status_code

    def raw(self, request_id: str, data: bytes) -> None:
        """``data`` on its own connection; the answer's status (the server's own deadlines end slow ones)."""
        host, port = self.gateway.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(data)
            response = read_response(sock)
        assert response.headers["x-request-id"] == request_id
        self.sent[request_id] = response.status

    def session(self) -> str:
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
        response = self.client.post("/mcp", json=message("initialize", params), headers=self.gateway.headers())
        return response.headers["Mcp-Session-Id"]


def raw_head(request_id: str, *lines: str, target: str = "POST /rpc", end: bool = True) -> bytes:
    text = "\r\n".join([f"{target} HTTP/1.1", "Host: 127.0.0.1", f"X-Request-Id: {request_id}", *lines])
    return (text + ("\r\n\r\n" if end else "\r\n")).encode()


def chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * 65_536
        sent += 65_536


#: One request of each kind: (request id, what to send). The id names the kind.
Kind = Callable[[Driver], None]


def every_kind(session: str) -> dict[str, Kind]:
    mcp = {"Mcp-Session-Id": session}
    kinds: dict[str, Kind] = {
        # the pipeline: one tools/call record each
        "call-allowed": lambda d: d.post("call-allowed", "/rpc", tool("crm.get_customer", {"customer_id": "C1001"})),
        "call-mcp": lambda d: d.post("call-mcp", "/mcp", tool("crm.get_customer", {"customer_id": "C1002"}), **mcp),
        "call-tool-error": lambda d: d.post(
            "call-tool-error", "/rpc", tool("crm.get_customer", {"customer_id": "C9999"})
        ),
        "call-denied": lambda d: d.post("call-denied", "/rpc", tool("billing.issue_refund", {"customer_id": "C1001"})),
        "call-schema": lambda d: d.post("call-schema", "/rpc", tool("crm.get_customer", {"customer_id": 7})),
        "call-unknown-tool": lambda d: d.post("call-unknown-tool", "/rpc", tool("crm.nothing", {})),
        "call-bad-params": lambda d: d.post("call-bad-params", "/rpc", message("tools/call", [1, 2])),
        "call-bad-meta": lambda d: d.post(
            "call-bad-meta", "/rpc", tool("clock.now", {}, _meta={"callgate/conversation_id": "a b"})
        ),
        "call-backend-failed": lambda d: d.post(
            "call-backend-failed", "/rpc", tool("reports.daily", {}), "sales-agent"
        ),
        "call-pii-blocked": lambda d: d.post(
            "call-pii-blocked", "/rpc", tool("docs.search", {"query": "card 4111 1111 1111 1111"})
        ),
        "list": lambda d: d.post("list", "/rpc", message("tools/list")),
        # the transport: refused before any tool call
        "no-credential": lambda d: d.post("no-credential", "/rpc", message("ping"), role=None),
        "bad-credential": lambda d: d.post(
            "bad-credential", "/rpc", message("ping"), role=None, Authorization=f"Bearer {BAD_KEY}"
        ),
        "not-json": lambda d: d.post("not-json", "/rpc", b"{not json", **{"Content-Type": "application/json"}),
        "media-type": lambda d: d.post("media-type", "/mcp", b"{}", **{"Content-Type": "text/plain"}),
        "mcp-batch": lambda d: d.post("mcp-batch", "/mcp", [message("ping")], **mcp),
        "mcp-no-session": lambda d: d.post("mcp-no-session", "/mcp", message("tools/list")),
        "mcp-unknown-session": lambda d: d.post(
            "mcp-unknown-session", "/mcp", message("tools/list"), **{"Mcp-Session-Id": "not-a-session"}
        ),
        "body-streamed-too-large": lambda d: d.post(
            "body-streamed-too-large", "/rpc", chunks(MAX_BODY + 1), **{"Content-Type": "application/json"}
        ),
        "body-too-slow": lambda d: d.raw(
            "body-too-slow",
            raw_head("body-too-slow", f"Authorization: Bearer {d.gateway.keys['support-agent']}", "Content-Length: 50")
            + b'{"jsonrpc":',
        ),
        # the admin endpoints
        "admin-not-admin": lambda d: d.get("admin-not-admin", "/admin/audit/export"),
        "admin-export": lambda d: d.get("admin-export", "/admin/audit/export?format=csv", role="admin"),
        "admin-bad-export": lambda d: d.get("admin-bad-export", "/admin/audit/export?format=xml", role="admin"),
        # the edge
        "host": lambda d: d.get("host", "/healthz", role=None, Host="evil.example"),
        "origin": lambda d: d.post("origin", "/rpc", message("ping"), Origin="https://evil.example"),
        "body-declared-too-large": lambda d: d.raw(
            "body-declared-too-large", raw_head("body-declared-too-large", f"Content-Length: {MAX_BODY + 1}")
        ),
        # the HTTP protocol
        "head-too-large": lambda d: d.raw("head-too-large", raw_head("head-too-large", "X-Pad: " + "a" * 20_000)),
        "head-too-many": lambda d: d.raw(
            "head-too-many", raw_head("head-too-many", *(f"X-{i}: v" for i in range(100)))
        ),
        "head-too-slow": lambda d: d.raw("head-too-slow", raw_head("head-too-slow", "X-Partial: a", end=False)),
    }
    return kinds


EXPECTED_STATUS = {
    "no-credential": 401,
    "bad-credential": 401,
    "not-json": 400,
    "media-type": 415,
    "mcp-batch": 400,
    "mcp-no-session": 400,
    "mcp-unknown-session": 404,
    "body-streamed-too-large": 413,
    "body-too-slow": 408,
    "admin-not-admin": 403,
    "admin-bad-export": 200,
    "host": 403,
    "origin": 403,
    "body-declared-too-large": 413,
    "head-too-large": 431,
    "head-too-many": 431,
    "head-too-slow": 408,
}


def test_every_kind_of_request_leaves_exactly_one_record(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    gateway = start_gateway(configured(tmp_path, header_read_timeout_s=TIMEOUT_S, body_read_timeout_s=TIMEOUT_S))
    driver = Driver(gateway)
    kinds = every_kind(driver.session())
    for send in kinds.values():
        send(driver)
    driver.client.close()
    assert set(driver.sent) == set(kinds)
    for request_id, status in EXPECTED_STATUS.items():
        assert driver.sent[request_id] == status, request_id
    counted = Counter(record.get("request_id") for record in gateway.audit_records())
    assert {request_id: counted[request_id] for request_id in kinds} == dict.fromkeys(kinds, 1)
    events = {r["request_id"]: r["event"] for r in gateway.audit_records() if r.get("request_id") in kinds}
    assert {events[k] for k in kinds if k.startswith("call-")} == {"tools/call"}
    assert events["list"] == "tools/list"
    assert events["admin-export"] == "audit/export"
    assert {events[k] for k in EXPECTED_STATUS} == {"request/refused"}
