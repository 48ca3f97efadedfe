"""JWT bearer tokens: the attack matrix against a real gateway, then what a valid token maps to.

The HTTP tests run the shipped configuration on a real uvicorn server; its demo
issuer (RS256) signs with ``policies/demo-jwt-private.pem``. Every refusal is
the same 401 with code -31401 and the message "Invalid token", whatever the reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.auth import JwtAuthenticator, Principal
from gateway.config.jwt_issuers import jwt_issuers
from gateway.errors import Unauthenticated
from gateway.serving import serve_in_thread
from tests.auth.conftest import edit_gateway_yaml
from tests.auth.tokens import (
    DEMO_ISSUER,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_PEM,
    HS_SECRET,
    b64,
    claims,
    demo_token,
    ec_key,
    hs256_forged,
    jwk,
    public_pem,
    rsa_key,
    sign,
    unsigned,
)
from tests.conftest import REPO_ROOT, GatewayFactory, RunningGateway

RESOURCE = "http://127.0.0.1:8700"
METADATA = f"{RESOURCE}/.well-known/oauth-protected-resource"
DEMO = {
    "issuer": DEMO_ISSUER,
    "algorithms": ["RS256"],
    "public_key_file": "policies/demo-jwt-public.pem",
    "claims": {"on_behalf_of": "on_behalf_of"},
}
HS = {"issuer": "https://hs.test", "algorithms": ["HS256"], "secret_env": "TEST_JWT_SECRET"}


def authenticator(*entries: dict[str, Any], config_dir: Path = REPO_ROOT) -> JwtAuthenticator:
    """A JWT authenticator built from ``principals.jwt`` entries, through the loader's own parsing."""
    return JwtAuthenticator(jwt_issuers(entries, config_dir, {"TEST_JWT_SECRET": HS_SECRET}, RESOURCE))


def post_rpc(
    gateway: RunningGateway, token: str, method: str = "tools/list", params: Any = None, query: str = ""
) -> httpx.Response:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{gateway.url}/rpc{query}", json=message, headers=headers, timeout=10)


def assert_refused(response: httpx.Response) -> None:
    """401, -31401, "Invalid token", and a challenge that points at the resource metadata."""
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert (error["code"], error["message"], error["data"]) == (
        -31401,
        "Invalid token",
        {"reason": "auth.unauthenticated"},
    )
    challenge = response.headers["www-authenticate"]
    assert challenge == f'Bearer resource_metadata="{METADATA}", error="invalid_token"'


# The attack matrix, over HTTP against the shipped configuration


def test_alg_none_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, unsigned(claims())))


def test_hs256_token_keyed_with_the_issuers_rsa_public_key_is_refused(gateway: RunningGateway) -> None:
    """Algorithm confusion: the public key, as published, used as an HMAC secret."""
    bare_pem = serialization.load_pem_public_key(DEMO_PUBLIC_PEM).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (DEMO_PUBLIC_PEM, bare_pem):
        assert_refused(post_rpc(gateway, hs256_forged(claims(), secret)))


def test_expired_token_is_refused(gateway: RunningGateway) -> None:
    now = int(time.time())
    assert_refused(post_rpc(gateway, demo_token(iat=now - 600, exp=now - 120)))  # past the 30 s leeway


def test_token_not_yet_valid_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, demo_token(nbf=int(time.time()) + 120)))


def test_token_for_another_audience_is_refused(gateway: RunningGateway) -> None:
    for audience in ("https://other-service.example", ["https://other-service.example"], f"{RESOURCE}/"):
        assert_refused(post_rpc(gateway, demo_token(aud=audience)))


def test_token_from_an_issuer_not_configured_is_refused(gateway: RunningGateway) -> None:
    """Signed with the demo key, but naming another issuer: the issuer, not the key, decides trust."""
    assert_refused(post_rpc(gateway, demo_token(iss="https://evil.example")))


def test_token_with_a_bad_signature_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, sign(claims(), rsa_key(), "RS256")))  # another key claiming the demo issuer
    header, _, signature = demo_token().split(".")
    tampered = json.dumps(claims(roles=["admin"])).encode()
    assert_refused(post_rpc(gateway, f"{header}.{b64(tampered)}.{signature}"))


def test_token_in_the_query_string_is_refused_even_with_a_valid_header(gateway: RunningGateway) -> None:
    token = demo_token()
    for name in ("access_token", "token", "ACCESS_TOKEN"):
        assert_refused(post_rpc(gateway, token, query=f"?{name}={token}"))


def test_token_without_a_subject_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, demo_token(sub=None)))


def test_token_without_an_expiry_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, demo_token(exp=None)))


def test_token_without_an_audience_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, demo_token(aud=None)))


def test_token_without_a_tenant_is_refused(gateway: RunningGateway) -> None:
    assert_refused(post_rpc(gateway, demo_token(tenant=None)))


def test_refusals_of_mcp_requests_are_the_same_401(gateway: RunningGateway) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    response = httpx.post(f"{gateway.url}/mcp", json=message, headers={"Authorization": f"Bearer {unsigned(claims())}"})
    assert_refused(response)


# The attack matrix, unit by unit (reasons PyJWT or the mapping finds)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: sign(claims(iss=None), DEMO_PRIVATE_KEY, "RS256"), id="no-issuer"),
        pytest.param(lambda: sign(claims(sub=42), DEMO_PRIVATE_KEY, "RS256"), id="subject-not-a-string"),
        pytest.param(lambda: sign(claims(sub="a b"), DEMO_PRIVATE_KEY, "RS256"), id="subject-not-a-plain-name"),
        pytest.param(lambda: sign(claims(tenant="*"), DEMO_PRIVATE_KEY, "RS256"), id="tenant-wildcard"),
        pytest.param(lambda: sign(claims(roles={"a": 1}), DEMO_PRIVATE_KEY, "RS256"), id="roles-an-object"),
        pytest.param(lambda: sign(claims(on_behalf_of=["x"]), DEMO_PRIVATE_KEY, "RS256"), id="on-behalf-of-a-list"),
        pytest.param(lambda: sign(claims(exp="tomorrow"), DEMO_PRIVATE_KEY, "RS256"), id="exp-not-a-number"),
        pytest.param(lambda: sign(claims(), ec_key(), "ES256"), id="algorithm-not-pinned"),
        pytest.param(lambda: demo_token(padding="x" * 9000), id="oversized"),
        pytest.param(lambda: "e30.e30.e30", id="no-alg"),
        pytest.param(lambda: "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.e30", id="claims-not-json"),
        pytest.param(
            lambda: jwt.encode(claims(), DEMO_PRIVATE_KEY, algorithm="RS256", headers={"crit": ["x"], "x": 1}),
            id="unknown-crit-header",
        ),
    ],
)
def test_malformed_or_unpinned_tokens_are_refused(token: Any) -> None:
    with pytest.raises(Unauthenticated) as caught:
        authenticator(DEMO).authenticate(token())
    assert caught.value.message == "Invalid token"


def test_refusal_reason_is_logged_at_debug_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    token = demo_token(aud="https://other-service.example")
    with caplog.at_level(logging.DEBUG, logger="callgate.auth.jwt"), pytest.raises(Unauthenticated):
        authenticator(DEMO).authenticate(token)
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert "audience" in record.getMessage().lower()
    assert token not in record.getMessage() and token.split(".")[2] not in record.getMessage()


def test_leeway_tolerates_small_clock_skew_only() -> None:
    now = int(time.time())
    assert authenticator(DEMO).authenticate(demo_token(exp=now - 10)).subject == "support-bot"
    assert authenticator(DEMO).authenticate(demo_token(nbf=now + 10)).subject == "support-bot"
    strict = authenticator({**DEMO, "leeway_s": 0})
    with pytest.raises(Unauthenticated):
        strict.authenticate(demo_token(exp=now - 10))


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    """Verified tokens are remembered, but never past their exp plus the leeway."""
    now = [time.time()]
    remembering = JwtAuthenticator(jwt_issuers([DEMO], REPO_ROOT, {}, RESOURCE), wall_clock=lambda: now[0])
    token = demo_token(exp=int(now[0]) + 60)
    assert remembering.authenticate(token).subject == "support-bot"
    assert remembering.authenticate(token).subject == "support-bot"
    now[0] += 60 + 29
    assert remembering.authenticate(token).subject == "support-bot"  # within the 30 s leeway
    now[0] += 2
    with pytest.raises(Unauthenticated):
        remembering.authenticate(token)


# What a valid token maps to


def test_rs256_token_from_a_pem_key_maps_to_a_principal() -> None:
    principal = authenticator(DEMO).authenticate(demo_token())
    assert principal == Principal("support-bot", "acme", ("support-agent",), method="jwt")


def test_hs256_token_from_a_shared_secret_is_accepted() -> None:
    token = sign(claims(iss="https://hs.test"), HS_SECRET.encode(), "HS256")
    assert authenticator(HS).authenticate(token).subject == "support-bot"


def test_es256_token_from_a_jwks_file_is_accepted(tmp_path: Path) -> None:
    key = ec_key()
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk(key, "es-1")]}))
    entry = {"issuer": "https://es.test", "algorithms": ["ES256"], "jwks_file": "jwks.json"}
    token = sign(claims(iss="https://es.test"), key, "ES256", kid="es-1")
    assert authenticator(entry, config_dir=tmp_path).authenticate(token).subject == "support-bot"


def test_es256_token_from_a_pem_key_is_accepted(tmp_path: Path) -> None:
    key = ec_key()
    (tmp_path / "ec.pem").write_bytes(public_pem(key))
    entry = {"issuer": "https://es.test", "algorithms": ["ES256"], "public_key_file": "ec.pem"}
    token = sign(claims(iss="https://es.test"), key, "ES256")
    assert authenticator(entry, config_dir=tmp_path).authenticate(token).method == "jwt"


@pytest.mark.parametrize(
    "roles",
    [["support-agent", "reader"], "support-agent reader", "support-agent,reader", " support-agent ,  reader,"],
    ids=["list", "space-separated", "comma-separated", "sloppy"],
)
def test_roles_claim_may_be_a_list_or_a_separated_string(roles: Any) -> None:
    assert authenticator(DEMO).authenticate(demo_token(roles=roles)).roles == ("support-agent", "reader")


@pytest.mark.parametrize("name", ["*", "a,b", "x" * 65, "", "reader writer", "user:ops-admin"])
def test_a_role_name_no_policy_could_hold_refuses_the_whole_token(name: str) -> None:
    """Never trimmed: dropping the odd name and keeping the rest would hide an issuer minting nonsense."""
    with pytest.raises(Unauthenticated) as caught:
        authenticator(DEMO).authenticate(demo_token(roles=["reader", name]))
    assert (caught.value.message, caught.value.detail) == ("Invalid token", "jwt.claim_invalid")


def test_repeated_role_names_count_once() -> None:
    assert authenticator(DEMO).authenticate(demo_token(roles=["reader", "reader"])).roles == ("reader",)


def test_token_without_roles_authenticates_with_none() -> None:
    assert authenticator(DEMO).authenticate(demo_token(roles=None)).roles == ()


def test_on_behalf_of_is_mapped_from_the_configured_claim() -> None:
    principal = authenticator(DEMO).authenticate(demo_token(on_behalf_of="ada@example.com"))
    assert principal.on_behalf_of == "ada@example.com"
    unmapped = {key: value for key, value in DEMO.items() if key != "claims"}
    assert authenticator(unmapped).authenticate(demo_token(on_behalf_of="ada@example.com")).on_behalf_of is None


def test_claim_names_are_configurable_and_may_reach_into_objects() -> None:
    entry = {
        **DEMO,
        "claims": {"subject": "client_id", "tenant": "org.id", "roles": "scope", "on_behalf_of": "act.sub"},
    }
    token = demo_token(client_id="agent-7", org={"id": "globex"}, scope="reader writer", act={"sub": "user-1"})
    principal = authenticator(entry).authenticate(token)
    assert principal == Principal("agent-7", "globex", ("reader", "writer"), method="jwt", on_behalf_of="user-1")


def test_a_pinned_tenant_needs_no_tenant_claim_but_refuses_another() -> None:
    pinned = authenticator({**DEMO, "tenant": "acme"})
    assert pinned.authenticate(demo_token(tenant=None)).tenant == "acme"
    assert pinned.authenticate(demo_token(tenant="acme")).tenant == "acme"
    with pytest.raises(Unauthenticated) as caught:
        pinned.authenticate(demo_token(tenant="globex"))  # never rewritten to the pin
    assert caught.value.detail == "jwt.tenant_not_allowed"


# A valid token through the real gateway


def test_valid_jwt_calls_a_tool_its_role_allows_through_rpc(gateway: RunningGateway) -> None:
    params = {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}}
    response = post_rpc(gateway, demo_token(), "tools/call", params)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["structuredContent"]["name"] == "Ada Lovelace"


def test_valid_jwt_calls_a_tool_its_role_allows_through_mcp(gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {demo_token()}"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    }
    opened = httpx.post(f"{gateway.url}/mcp", json=initialize, headers=headers, timeout=10)
    assert opened.status_code == 200, opened.text
    headers["Mcp-Session-Id"] = opened.headers["Mcp-Session-Id"]
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "docs.search", "arguments": {"query": "refund"}},
    }
    response = httpx.post(f"{gateway.url}/mcp", json=call, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["isError"] is False


def test_jwt_subject_unknown_to_the_api_keys_is_authenticated(gateway: RunningGateway) -> None:
    """Authentication only: whether alice's per-request role is allowed is the policy engine's decision."""
    response = post_rpc(gateway, demo_token(sub="alice", roles=["support-agent"]))
    assert response.status_code == 200
    assert "result" in response.json()


def test_on_behalf_of_and_method_reach_the_audit_record(gateway: RunningGateway) -> None:
    params = {"name": "clock.now", "arguments": {}}
    assert post_rpc(gateway, demo_token(on_behalf_of="ada"), "tools/call", params).status_code == 200
    (record,) = gateway.audit_records()
    assert (record["subject"], record["on_behalf_of"]) == ("support-bot", "ada")


def test_api_keys_still_work_beside_jwt(gateway: RunningGateway) -> None:
    assert gateway.rpc("tools/list").status_code == 200


def test_hs256_and_jwks_issuers_work_through_a_gateway(start_gateway: GatewayFactory, config_copy: Path) -> None:
    key = ec_key()
    (config_copy / "policies" / "jwks.json").write_text(json.dumps({"keys": [jwk(key, "es-1")]}))
    es = {"issuer": "https://es.test", "algorithms": ["ES256"], "jwks_file": "policies/jwks.json"}
    edit_gateway_yaml(config_copy, HS, es)
    gateway = start_gateway(config_copy, TEST_JWT_SECRET=HS_SECRET)
    params = {"name": "crm.get_customer", "arguments": {"customer_id": "C1002"}}
    for token in (
        sign(claims(iss="https://hs.test"), HS_SECRET.encode(), "HS256"),
        sign(claims(iss="https://es.test"), key, "ES256", kid="es-1"),
    ):
        response = post_rpc(gateway, token, "tools/call", params)
        assert response.json()["result"]["structuredContent"]["name"] == "Grace Hopper"
    # An HS256 token for the RS256 issuer, keyed with the HS secret: pinned out.
    assert_refused(post_rpc(gateway, sign(claims(), HS_SECRET.encode(), "HS256")))


# The caller's credential never travels on


def header_echo() -> Starlette:
    async def headers(request: Request) -> JSONResponse:
        return JSONResponse({"headers": dict(request.headers)})

    return Starlette(routes=[Route("/headers", headers, methods=["GET"])])


@pytest.fixture
def echo_url() -> Iterator[str]:
    with serve_in_thread(header_echo()) as url:
        yield url


def test_callers_authorization_never_reaches_the_backend(
    start_gateway: GatewayFactory, config_copy: Path, echo_url: str
) -> None:
    with (config_copy / "policies" / "policy.csv").open("a") as policy:
        policy.write("p, support-agent, acme, echo.headers, call, allow\n")
    (config_copy / "tool_specs" / "echo.headers.yaml").write_text(
        f"""\
# Answers with the headers the backend received: only configured ones may arrive.
name: echo.headers
description: Echo the request headers.
input_schema: {{type: object, additionalProperties: false}}
backend:
  type: http
  method: GET
  url: {echo_url}/headers
  args: none
  headers:
    X-Backend-Token: configured-value
"""
    )
    gateway = start_gateway(config_copy)
    params = {"name": "echo.headers", "arguments": {}}
    for credential in (demo_token(), gateway.keys["support-agent"]):
        response = post_rpc(gateway, credential, "tools/call", params)
        received = response.json()["result"]["structuredContent"]["headers"]
        assert received["x-backend-token"] == "configured-value"
        assert "authorization" not in received and "x-api-key" not in received
        assert not any(credential in value or "Bearer" in value for value in received.values())
