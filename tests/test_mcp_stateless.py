"""``/mcp`` in MCP 2026-07-28 (stateless), spoken with raw httpx to a real gateway: every header and _meta rule."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, GatewayFactory, RunningGateway
from tests.test_mcp import call_tool, open_session, post

MODERN = "2026-07-28"
CONFORMANCE_CONFIG = REPO_ROOT / "conformance" / "config"


def envelope(version: str = MODERN, **overrides: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    for key, value in overrides.items():
        name = f"io.modelcontextprotocol/{key}"
        if value is None:
            meta.pop(name, None)
        else:
            meta[name] = value
    return meta


def send(
    gateway: RunningGateway,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    role: str | None = "support-agent",
    meta: dict[str, Any] | None = None,
    headers: dict[str, str | None] | None = None,
    id: Any = 7,
) -> httpx.Response:
    """One stateless request with every header right, unless ``headers`` changes (or, with None, drops) one."""
    body_params = dict(params or {})
    body_params["_meta"] = envelope() if meta is None else meta
    sent: dict[str, str | None] = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method == "tools/call" and isinstance(body_params.get("name"), str):
        sent["Mcp-Name"] = body_params["name"]
    sent.update(headers or {})
    final = gateway.headers(role) if role is not None else {}
    final.update({name: value for name, value in sent.items() if value is not None})
    message = {"jsonrpc": "2.0", "id": id, "method": method, "params": body_params}
    return httpx.post(f"{gateway.url}/mcp", json=message, headers=final, timeout=10)


def refused(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["id"] == 7  # every refusal names the request it answers
    error: dict[str, Any] = body["error"]
    return error


def result_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


# server/discover and the results


def test_discover_lists_versions_capabilities_and_identity(gateway: RunningGateway) -> None:
    result = result_of(send(gateway, "server/discover"))
    assert result["supportedVersions"] == ["2026-07-28", "2025-11-25", "2025-06-18"]
    assert result["capabilities"] == {"tools": {}}
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "callgate"
    assert result["instructions"]
    assert result["resultType"] == "complete"
    assert result["cacheScope"] == "public" and result["ttlMs"] > 0  # the same for every caller


def test_every_result_carries_result_type_and_server_info(gateway: RunningGateway) -> None:
    for response in (send(gateway, "tools/list"), send(gateway, "tools/call", {"name": "clock.now"})):
        result = result_of(response)
        assert result["resultType"] == "complete"
        assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "callgate"


def test_tools_list_is_the_callers_own_and_says_so_in_its_caching_hints(gateway: RunningGateway) -> None:
    support = result_of(send(gateway, "tools/list"))
    finance = result_of(send(gateway, "tools/list", role="finance-agent"))
    assert {tool["name"] for tool in support["tools"]} != {tool["name"] for tool in finance["tools"]}
    for listing in (support, finance):
        assert listing["cacheScope"] == "private"  # a shared cache must not hand it to another caller
        assert isinstance(listing["ttlMs"], int) and listing["ttlMs"] >= 0
    listings = [r for r in gateway.audit_records() if r.get("event") == "tools/list"]
    assert [r["protocol_version"] for r in listings] == [MODERN, MODERN]  # audited like any listing


def test_a_stateless_request_opens_no_session(gateway: RunningGateway) -> None:
    response = send(gateway, "server/discover")
    assert "mcp-session-id" not in response.headers


# _meta: protocol version, client capabilities, client info


@pytest.mark.parametrize(
    "meta",
    [
        {},
        envelope(protocolVersion=None),
        envelope(clientCapabilities=None),
        envelope(clientCapabilities=["sampling"]),
        envelope(clientInfo={"name": "no version"}),
        envelope(logLevel="loud"),
    ],
    ids=["no-meta", "no-version", "no-capabilities", "capabilities-not-object", "bad-client-info", "bad-log-level"],
)
def test_missing_or_malformed_meta_is_invalid_params_with_400(gateway: RunningGateway, meta: dict[str, Any]) -> None:
    error = refused(send(gateway, "server/discover", meta=meta), 400, -32602)
    assert error["data"]["reason"] == "protocol.invalid_params"


def test_meta_without_client_info_is_served(gateway: RunningGateway) -> None:
    assert result_of(send(gateway, "server/discover", meta=envelope(clientInfo=None)))["resultType"] == "complete"


def test_unsupported_version_is_refused_with_400_and_the_supported_list(gateway: RunningGateway) -> None:
    response = send(gateway, "tools/list", meta=envelope("1999-01-01"), headers={"MCP-Protocol-Version": "1999-01-01"})
    error = refused(response, 400, -32022)
    assert error["data"]["supported"] == ["2026-07-28", "2025-11-25", "2025-06-18"]
    assert error["data"]["requested"] == "1999-01-01"


# Headers: MCP-Protocol-Version, Mcp-Method, Mcp-Name


@pytest.mark.parametrize("value", [None, "2025-11-25"], ids=["missing", "other"])
def test_protocol_version_header_must_match_meta(gateway: RunningGateway, value: str | None) -> None:
    response = send(gateway, "tools/list", headers={"MCP-Protocol-Version": value})
    assert refused(response, 400, -32020)["data"]["reason"] == "protocol.header_mismatch"


@pytest.mark.parametrize("value", [None, "tools/call"], ids=["missing", "other"])
def test_method_header_must_match_the_body(gateway: RunningGateway, value: str | None) -> None:
    refused(send(gateway, "tools/list", headers={"Mcp-Method": value}), 400, -32020)


@pytest.mark.parametrize("value", [None, "docs.search"], ids=["missing", "other"])
def test_name_header_must_match_the_tool(gateway: RunningGateway, value: str | None) -> None:
    """A proxy routing on Mcp-Name must never see one tool while callgate runs another."""
    response = send(gateway, "tools/call", {"name": "clock.now", "arguments": {}}, headers={"Mcp-Name": value})
    refused(response, 400, -32020)
    assert not [r for r in gateway.audit_records() if r.get("tool") == "clock.now"]


def test_name_header_may_be_base64_encoded(gateway: RunningGateway) -> None:
    encoded = "=?base64?" + base64.b64encode(b"clock.now").decode() + "?="
    result = result_of(send(gateway, "tools/call", {"name": "clock.now"}, headers={"Mcp-Name": encoded}))
    assert result["isError"] is False


def test_whitespace_around_a_header_value_is_not_part_of_it(gateway: RunningGateway) -> None:
    """RFC 9110 section 5.5; sent with http.client, since httpx refuses to send such a header at all."""
    message = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "clock.now", "_meta": envelope()}}
    headers = gateway.headers(
        **{"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Content-Type": "application/json"}
    )
    headers["Mcp-Name"] = "  clock.now\t"
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", "/mcp", body=json.dumps(message), headers=headers)
        answer = connection.getresponse()
        assert answer.status == 200
        assert json.loads(answer.read())["result"]["isError"] is False
    finally:
        connection.close()


def test_header_names_are_case_insensitive(gateway: RunningGateway) -> None:
    headers = {
        "MCP-Protocol-Version": None,
        "Mcp-Method": None,
        "mcp-protocol-version": MODERN,
        "MCP-METHOD": "tools/list",
    }
    assert result_of(send(gateway, "tools/list", headers=headers))["resultType"] == "complete"


# Methods


@pytest.mark.parametrize(
    "method", ["initialize", "ping", "logging/setLevel", "resources/subscribe", "prompts/list", "no/such"]
)
def test_removed_and_unknown_methods_are_404_method_not_found(gateway: RunningGateway, method: str) -> None:
    assert refused(send(gateway, method), 404, -32601)["data"]["reason"] == "protocol.method_not_found"


def test_notification_is_accepted_with_202(gateway: RunningGateway) -> None:
    message = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"_meta": envelope()}}
    headers = gateway.headers(**{"MCP-Protocol-Version": MODERN, "Mcp-Method": "notifications/cancelled"})
    response = httpx.post(f"{gateway.url}/mcp", json=message, headers=headers, timeout=10)
    assert response.status_code == 202 and response.content == b""


def test_null_request_id_is_invalid(gateway: RunningGateway) -> None:
    assert send(gateway, "tools/list", id=None).status_code == 400


# The same gateway behind every revision


def test_a_stateless_request_needs_credentials(gateway: RunningGateway) -> None:
    response = send(gateway, "server/discover", role=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].lower().startswith("bearer")


def test_policy_denial_is_the_same_error_as_on_a_session(gateway: RunningGateway) -> None:
    arguments = {"customer_id": "C1001", "amount": 10, "currency": "EUR"}
    response = send(gateway, "tools/call", {"name": "billing.issue_refund", "arguments": arguments})
    assert refused(response, 200, -31403)["data"]["reason"] == "policy.denied"


def test_schema_violation_is_a_tool_result_with_is_error(gateway: RunningGateway) -> None:
    result = result_of(send(gateway, "tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "x"}}))
    assert result["isError"] is True and "$.customer_id" in result["content"][0]["text"]


def test_stateless_and_session_calls_by_one_agent_get_one_decision_and_equivalent_records(
    gateway: RunningGateway,
) -> None:
    arguments = {"customer_id": "C1001"}
    session = open_session(gateway)
    on_session = post(gateway, call_tool("crm.get_customer", arguments), session=session).json()["result"]
    stateless = result_of(send(gateway, "tools/call", {"name": "crm.get_customer", "arguments": arguments}))
    assert stateless["structuredContent"] == on_session["structuredContent"]
    first, second = [r for r in gateway.audit_records() if r.get("tool") == "crm.get_customer"]
    assert (first["protocol_version"], second["protocol_version"]) == ("2025-11-25", MODERN)
    assert first["session_id"] == session and second["session_id"] is None
    # What differs is what should: the revision and session, and what is unique to each call or each run.
    unique = {"protocol_version", "session_id", "request_id", "decision_id", "seq", "prev", "hash", "ts", "time"}
    same = {key for key in first if key not in unique and not key.endswith(("_us", "_ms", "_at"))}
    assert {"decision", "reason", "tool", "subject", "tenant", "arg_keys"} <= same
    assert {key: first[key] for key in same} == {key: second.get(key) for key in same}


def test_stateless_and_session_calls_spend_the_same_rate_limit(gateway: RunningGateway) -> None:
    """clock.now allows each agent 3 calls at once, whichever revision each one uses."""
    session = open_session(gateway)
    answers = [post(gateway, call_tool("clock.now", {}), session=session).json() for _ in range(2)]
    answers += [send(gateway, "tools/call", {"name": "clock.now"}).json() for _ in range(2)]
    assert ["result" in answer for answer in answers] == [True, True, True, False]
    assert answers[-1]["error"]["code"] == -31429


def test_browser_request_from_another_site_is_refused_on_the_stateless_revision(gateway: RunningGateway) -> None:
    response = send(gateway, "server/discover", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403


# Mcp-Param-* (the conformance configuration's test_custom_header mirrors `region` as Mcp-Param-Region)


@pytest.fixture
def fixtures_gateway(start_gateway: GatewayFactory) -> RunningGateway:
    return start_gateway(CONFORMANCE_CONFIG)


def call_region(gateway: RunningGateway, region: Any, header: str | None) -> httpx.Response:
    params = {"name": "test_custom_header", "arguments": {"region": region}}
    return send(gateway, "tools/call", params, role=None, headers={"Mcp-Param-Region": header})


def test_mirrored_argument_matching_its_header_is_served(fixtures_gateway: RunningGateway) -> None:
    for header in ("us-west1", "=?base64?" + base64.b64encode(b"us-west1").decode() + "?="):
        result = result_of(call_region(fixtures_gateway, "us-west1", header))
        assert result["content"][0]["text"] == "Region: us-west1"


@pytest.mark.parametrize(
    "header", [None, "eu-west1", "=?base64?not base64?=", "=?base64?SGVsbG8?="], ids=["missing", "other", "bad", "pad"]
)
def test_mirrored_argument_header_missing_or_different_is_refused(
    fixtures_gateway: RunningGateway, header: str | None
) -> None:
    error = refused(call_region(fixtures_gateway, "us-west1", header), 400, -32020)
    assert "us-west1" not in str(error) and "Mcp-Param-Region" in error["message"]


def test_header_for_an_argument_the_call_leaves_out_is_refused(fixtures_gateway: RunningGateway) -> None:
    params = {"name": "test_custom_header", "arguments": {}}
    refused(send(fixtures_gateway, "tools/call", params, role=None, headers={"Mcp-Param-Region": "x"}), 400, -32020)


def test_a_caller_who_may_not_call_the_tool_learns_nothing_of_its_headers(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFORMANCE_CONFIG, config)
    (config / "policies" / "policy.csv").write_text(
        "p, conformance-suite, conformance, test_simple_text, call, allow\n"
    )
    gateway = start_gateway(config)
    error = refused(call_region(gateway, "us-west1", "eu-west1"), 200, -31403)  # the policy's answer, not -32020
    assert error["data"]["reason"] == "policy.denied"


# Progress


def test_progress_is_streamed_before_the_answer_when_asked_for(fixtures_gateway: RunningGateway) -> None:
    params = {"name": "test_tool_with_progress", "arguments": {}}
    meta = {**envelope(), "progressToken": "p-1"}
    response = send(
        fixtures_gateway,
        "tools/call",
        params,
        role=None,
        meta=meta,
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    progress = [event["params"] for event in events[:-1]]
    assert progress == [{"progressToken": "p-1", "progress": p, "total": 100} for p in (0, 50, 100)]
    assert events[-1]["id"] == 7 and events[-1]["result"]["isError"] is False


def test_a_refused_call_with_a_progress_token_is_plain_json(gateway: RunningGateway) -> None:
    arguments = {"customer_id": "C1001", "amount": 10, "currency": "EUR"}
    meta = {**envelope(), "progressToken": 1}
    response = send(
        gateway,
        "tools/call",
        {"name": "billing.issue_refund", "arguments": arguments},
        meta=meta,
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.headers["content-type"] == "application/json"
    refused(response, 200, -31403)
