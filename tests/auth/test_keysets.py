"""JWKS key sets: refreshed on an unknown kid at most once per interval; a URL is fetched off the request path.

The clock is injected so that "a minute later" takes no minute; the JWKS URL is
served by a real Starlette app on loopback that counts its fetches.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.auth import JwtAuthenticator
from gateway.config.jwt_issuers import jwt_issuers
from gateway.errors import Unauthenticated
from gateway.serving import serve_in_thread
from tests.auth.conftest import edit_gateway_yaml
from tests.auth.tokens import claims, ec_key, jwk, rsa_key, sign
from tests.conftest import GatewayFactory

RESOURCE = "http://127.0.0.1:8700"
ISSUER = "https://idp.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token(key: Any, kid: str, algorithm: str = "RS256") -> str:
    return sign(claims(iss=ISSUER), key, algorithm, kid=kid)


def accepts(authenticator: JwtAuthenticator, jwt: str) -> bool:
    try:
        authenticator.authenticate(jwt)
    except Unauthenticated:
        return False
    return True


# A JWKS file


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    return tmp_path / "jwks.json"


def publish(path: Path, *keys: dict[str, Any]) -> None:
    path.write_text(json.dumps({"keys": list(keys)}))


def file_authenticator(path: Path, clock: Clock, **options: Any) -> JwtAuthenticator:
    entry = {"issuer": ISSUER, "algorithms": ["RS256", "ES256"], "jwks_file": str(path), **options}
    return JwtAuthenticator(jwt_issuers([entry], path.parent, {}, RESOURCE), clock=clock)


def test_unknown_kid_reads_the_jwks_file_again_and_the_same_token_is_accepted(jwks_file: Path) -> None:
    old, new = rsa_key(), ec_key()
    publish(jwks_file, jwk(old, "k1"))
    clock = Clock()
    authenticator = file_authenticator(jwks_file, clock)
    assert accepts(authenticator, token(old, "k1"))
    publish(jwks_file, jwk(old, "k1"), jwk(new, "k2"))  # the identity provider rotates
    clock.now += 61
    assert accepts(authenticator, token(new, "k2", "ES256"))


def test_unknown_kids_refresh_at_most_once_per_interval(jwks_file: Path) -> None:
    first, second, third = rsa_key(), rsa_key(), rsa_key()
    publish(jwks_file, jwk(first, "k1"))
    clock = Clock()
    authenticator = file_authenticator(jwks_file, clock, jwks_min_refresh_s=60)
    clock.now += 61
    publish(jwks_file, jwk(first, "k1"), jwk(second, "k2"))
    assert accepts(authenticator, token(second, "k2"))  # one refresh
    publish(jwks_file, jwk(first, "k1"), jwk(second, "k2"), jwk(third, "k3"))
    clock.now += 30
    assert not accepts(authenticator, token(third, "k3"))  # within the interval: no second read
    assert not accepts(authenticator, token(rsa_key(), "forged"))
    clock.now += 31
    assert accepts(authenticator, token(third, "k3"))


def test_a_token_verified_with_a_key_since_removed_is_refused(jwks_file: Path) -> None:
    """Verified tokens are remembered only as long as the keys that verified them."""
    old, new = rsa_key(), rsa_key()
    publish(jwks_file, jwk(old, "k1"))
    clock = Clock()
    authenticator = file_authenticator(jwks_file, clock)
    remembered = token(old, "k1")
    assert accepts(authenticator, remembered)
    publish(jwks_file, jwk(new, "k2"))  # k1 revoked
    clock.now += 61
    assert accepts(authenticator, token(new, "k2"))
    assert not accepts(authenticator, remembered)


def test_a_broken_jwks_file_keeps_the_keys_in_hand(jwks_file: Path) -> None:
    key = rsa_key()
    publish(jwks_file, jwk(key, "k1"))
    clock = Clock()
    authenticator = file_authenticator(jwks_file, clock)
    jwks_file.write_text("{ half written")
    clock.now += 61
    assert not accepts(authenticator, token(rsa_key(), "k9"))  # triggers the refresh, which fails
    assert accepts(authenticator, token(key, "k1"))


def test_token_without_kid_uses_the_only_key_of_its_algorithm(jwks_file: Path) -> None:
    rsa, ec = rsa_key(), ec_key()
    publish(jwks_file, jwk(rsa, "k1"), jwk(ec, "k2"))
    authenticator = file_authenticator(jwks_file, Clock())
    assert accepts(authenticator, sign(claims(iss=ISSUER), rsa, "RS256"))
    publish(jwks_file, jwk(rsa, "k1"), jwk(rsa_key(), "k3"))
    two_rsa = file_authenticator(jwks_file, Clock())
    assert not accepts(two_rsa, sign(claims(iss=ISSUER), rsa, "RS256"))  # ambiguous without a kid


def test_a_kid_names_a_key_of_one_algorithm_only(jwks_file: Path) -> None:
    """A token cannot pair a known kid with another algorithm."""
    ec = ec_key()
    publish(jwks_file, jwk(ec, "k1"))
    authenticator = file_authenticator(jwks_file, Clock())
    assert not accepts(authenticator, token(rsa_key(), "k1", "RS256"))
    assert accepts(authenticator, token(ec, "k1", "ES256"))


# A JWKS URL, served from a real loopback app


@dataclass
class JwksServer:
    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0

    def wait_for_fetches(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.fetches < count and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert self.fetches == count


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer(url="")

    async def jwks(request: Request) -> JSONResponse:
        server.fetches += 1
        return JSONResponse({"keys": server.keys})

    with serve_in_thread(Starlette(routes=[Route("/jwks", jwks, methods=["GET"])])) as url:
        server.url = f"{url}/jwks"
        yield server


def url_authenticator(server: JwksServer, clock: Clock) -> JwtAuthenticator:
    entry = {"issuer": ISSUER, "algorithms": ["RS256"], "jwks_url": server.url, "jwks_min_refresh_s": 60}
    return JwtAuthenticator(jwt_issuers([entry], Path("."), {}, RESOURCE), clock=clock)


def test_jwks_url_is_fetched_when_the_authenticator_is_built(jwks_server: JwksServer) -> None:
    key = rsa_key()
    jwks_server.keys = [jwk(key, "k1")]
    authenticator = url_authenticator(jwks_server, Clock())
    assert jwks_server.fetches == 1
    assert accepts(authenticator, token(key, "k1"))
    assert jwks_server.fetches == 1  # served from the cache


def test_unknown_kid_fetches_the_jwks_url_once_in_the_background(jwks_server: JwksServer) -> None:
    old, new = rsa_key(), rsa_key()
    jwks_server.keys = [jwk(old, "k1")]
    clock = Clock()
    authenticator = url_authenticator(jwks_server, clock)
    jwks_server.keys = [jwk(old, "k1"), jwk(new, "k2")]
    clock.now += 61
    # Many callers with the new kid at once: one fetch, on its own thread; the token that asked is refused.
    assert not any(accepts(authenticator, token(new, "k2")) for _ in range(20))
    jwks_server.wait_for_fetches(2)
    deadline = time.monotonic() + 5
    while not accepts(authenticator, token(new, "k2")) and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    assert accepts(authenticator, token(new, "k2"))
    # Forged kids within the interval cost the identity provider nothing.
    forger = rsa_key()
    for forged in range(20):
        accepts(authenticator, token(forger, f"forged-{forged}"))
    threading.Event().wait(0.2)
    assert jwks_server.fetches == 2


def test_stale_jwks_is_refetched_and_a_removed_key_stops_working(jwks_server: JwksServer) -> None:
    revoked, current = rsa_key(), rsa_key()
    jwks_server.keys = [jwk(revoked, "k1"), jwk(current, "k2")]
    clock = Clock()
    authenticator = url_authenticator(jwks_server, clock)
    jwks_server.keys = [jwk(current, "k2")]
    clock.now += 3601  # past jwks_max_age_s: the keys in hand still serve while the refetch runs
    assert accepts(authenticator, token(current, "k2"))
    jwks_server.wait_for_fetches(2)
    deadline = time.monotonic() + 5
    while accepts(authenticator, token(revoked, "k1")) and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    assert not accepts(authenticator, token(revoked, "k1"))


def test_unreachable_jwks_url_at_start_refuses_tokens_but_does_not_fail_the_load() -> None:
    entry = {"issuer": ISSUER, "algorithms": ["RS256"], "jwks_url": "http://127.0.0.1:9/jwks"}
    authenticator = JwtAuthenticator(jwt_issuers([entry], Path("."), {}, RESOURCE), clock=Clock())
    assert not accepts(authenticator, token(rsa_key(), "k1"))


def test_jwks_url_issuer_works_through_a_gateway(
    start_gateway: GatewayFactory, config_copy: Path, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.keys = [jwk(key, "k1")]
    edit_gateway_yaml(config_copy, {"issuer": ISSUER, "algorithms": ["RS256"], "jwks_url": jwks_server.url})
    gateway = start_gateway(config_copy)
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "clock.now", "arguments": {}}}
    headers = {"Authorization": f"Bearer {token(key, 'k1')}"}
    response = httpx.post(f"{gateway.url}/rpc", json=message, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["isError"] is False
