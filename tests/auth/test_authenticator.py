"""The composite authenticator: API key or JWT by the credential's shape, never a credential in the URL."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.auth import ApiKeyAuthenticator, Authenticator, Challenged, build_authenticator, hash_key
from gateway.config import ApiKeyEntry, load_config
from tests.auth.tokens import demo_token
from tests.conftest import REPO_ROOT

KEY = "cg_test_key_0123456789"
METADATA = "http://127.0.0.1:8700/.well-known/oauth-protected-resource"


@pytest.fixture(scope="module")
def with_jwt() -> Authenticator:
    config = load_config(REPO_ROOT, env={})
    entry = ApiKeyEntry(hash_key(KEY), "bot", "acme", ("support-agent",))
    return build_authenticator(dataclasses.replace(config.gateway, api_keys=(entry,)))  # the demo issuer, one key


def api_keys_only() -> Authenticator:
    return Authenticator(ApiKeyAuthenticator([ApiKeyEntry(hash_key(KEY), "bot", "acme", ("support-agent",))]))


def refusal(authenticator: Authenticator, headers: dict[str, str], query: bytes = b"") -> Challenged:
    with pytest.raises(Challenged) as caught:
        authenticator.authenticate(headers, query)
    return caught.value


def test_jwt_shaped_bearer_is_verified_as_a_jwt(with_jwt: Authenticator) -> None:
    principal = with_jwt.authenticate({"authorization": f"Bearer {demo_token()}"})
    assert (principal.subject, principal.method) == ("support-bot", "jwt")


def test_api_keys_authenticate_exactly_as_before_beside_jwt(with_jwt: Authenticator) -> None:
    for headers in ({"authorization": f"Bearer {KEY}"}, {"x-api-key": KEY}):
        principal = with_jwt.authenticate(headers)
        assert (principal.subject, principal.method) == ("bot", "api_key")


def test_x_api_key_is_an_api_key_even_beside_a_bearer_jwt(with_jwt: Authenticator) -> None:
    principal = with_jwt.authenticate({"x-api-key": KEY, "authorization": f"Bearer {demo_token(sub='other')}"})
    assert principal.subject == "bot"


def test_two_dots_without_a_jws_header_is_an_unknown_api_key(with_jwt: Authenticator) -> None:
    assert refusal(with_jwt, {"authorization": "Bearer cg_a.b.c"}).message == "Unknown credential"


@pytest.mark.parametrize("name", ["access_token", "token", "Token"])
def test_credential_in_the_query_string_is_refused_beside_a_valid_header(with_jwt: Authenticator, name: str) -> None:
    for authenticator in (with_jwt, api_keys_only()):
        error = refusal(authenticator, {"x-api-key": KEY}, f"a=1&{name}={KEY}".encode())
        assert error.message == "Invalid token"


def test_other_query_parameters_do_not_matter(with_jwt: Authenticator) -> None:
    assert with_jwt.authenticate({"x-api-key": KEY}, b"tokenizer=1&x=access_token").subject == "bot"


def test_challenge_points_at_the_metadata_and_names_the_error_only_when_a_credential_was_sent(
    with_jwt: Authenticator,
) -> None:
    assert refusal(with_jwt, {}).challenge == f'Bearer resource_metadata="{METADATA}"'
    sent = refusal(with_jwt, {"authorization": "Bearer nope"}).challenge
    assert sent == f'Bearer resource_metadata="{METADATA}", error="invalid_token"'


def test_without_jwt_issuers_the_challenge_is_the_plain_realm() -> None:
    assert refusal(api_keys_only(), {"authorization": "Bearer nope"}).challenge == 'Bearer realm="callgate"'
    refusal(api_keys_only(), {"authorization": f"Bearer {demo_token()}"})  # without issuers a JWT is just no key


def test_refusals_carry_their_detail_for_the_audit_trail(with_jwt: Authenticator) -> None:
    """The demo issuer may not grant admin; the caller sees only "Invalid token", the audit record sees why."""
    error = refusal(with_jwt, {"authorization": f"Bearer {demo_token(roles=['admin'])}"})
    assert (error.message, error.detail) == ("Invalid token", "jwt.role_not_allowed")
    assert refusal(with_jwt, {"x-api-key": KEY}, f"token={KEY}".encode()).detail == "query_credential"
