"""The ``principals.jwt`` section (gateway/config/jwt_issuers.py): keys read at load, algorithms pinned to them.

Every problem is a ConfigError at load that names the file, the line and the JSON path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from gateway.config import ConfigError, load_config
from tests.auth.conftest import edit_gateway_yaml
from tests.auth.tokens import HS_SECRET, ec_key, jwk, public_pem, rsa_key
from tests.conftest import REPO_ROOT

ENV = {"TEST_JWT_SECRET": HS_SECRET}


def hs_issuer(**overrides: Any) -> dict[str, Any]:
    return {"issuer": "https://hs.test", "algorithms": ["HS256"], "secret_env": "TEST_JWT_SECRET", **overrides}


def load_error(config_dir: Path, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir, env=ENV if env is None else env)
    return caught.value


def test_shipped_configuration_trusts_the_demo_rs256_issuer_without_any_secret() -> None:
    (issuer,) = load_config(REPO_ROOT, env={}).gateway.jwt
    assert (issuer.issuer, issuer.algorithms, issuer.audience) == (
        "https://idp.acme.example",
        ("RS256",),
        "http://127.0.0.1:8700",
    )
    assert [key.algorithm for key in issuer.keys] == ["RS256"]


def test_audience_defaults_to_the_resource_uri_and_follows_it(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, hs_issuer(), hs_issuer(issuer="https://other.test", audience="urn:callgate"))
    issuers = load_config(config_copy, env={**ENV, "CALLGATE_RESOURCE_URI": "https://gw.example"}).gateway.jwt
    assert [issuer.audience for issuer in issuers] == ["https://gw.example", "https://gw.example", "urn:callgate"]


def test_secret_is_read_from_the_environment_and_never_shown(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, hs_issuer())
    config = load_config(config_copy, env=ENV)
    (key,) = config.gateway.jwt[-1].keys
    assert key.key == HS_SECRET.encode()
    assert HS_SECRET not in repr(config)


def test_issuer_whose_secret_variable_is_unset_fails_at_load_naming_file_line_and_path(config_copy: Path) -> None:
    path = edit_gateway_yaml(config_copy, hs_issuer())
    error = load_error(config_copy, env={})
    assert error.file == path
    assert error.json_path == "$.principals.jwt[1].secret_env"
    assert error.line == _line_of(path, "secret_env: TEST_JWT_SECRET")
    assert "TEST_JWT_SECRET" in str(error) and "not set" in str(error)


def test_secret_shorter_than_32_bytes_is_refused(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, hs_issuer())
    error = load_error(config_copy, env={"TEST_JWT_SECRET": "tiny-secret-value"})
    assert error.json_path == "$.principals.jwt[1].secret_env"
    assert "shorter than 32 bytes" in str(error)
    assert "tiny-secret-value" not in str(error)


def test_unreadable_public_key_file_fails_at_load(config_copy: Path) -> None:
    edit_gateway_yaml(
        config_copy, {"issuer": "https://rs.test", "algorithms": ["RS256"], "public_key_file": "nope.pem"}
    )
    error = load_error(config_copy)
    assert error.json_path == "$.principals.jwt[1].public_key_file"
    assert "cannot read" in str(error) and "nope.pem" in str(error)


def test_private_key_in_place_of_the_public_key_is_refused(config_copy: Path) -> None:
    edit_gateway_yaml(
        config_copy,
        {"issuer": "https://rs.test", "algorithms": ["RS256"], "public_key_file": "policies/demo-jwt-private.pem"},
    )
    assert "holds a private key" in str(load_error(config_copy))


def test_hs256_can_never_be_pinned_to_a_public_key(config_copy: Path) -> None:
    """The configuration side of algorithm confusion: a public key is never an HMAC secret."""
    edit_gateway_yaml(
        config_copy,
        {
            "issuer": "https://rs.test",
            "algorithms": ["RS256", "HS256"],
            "public_key_file": "policies/demo-jwt-public.pem",
        },
    )
    error = load_error(config_copy)
    assert error.json_path == "$.principals.jwt[1].algorithms"
    assert "HS256 needs secret_env" in str(error)


def test_a_shared_secret_verifies_hs256_only(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, hs_issuer(algorithms=["HS256", "RS256"]))
    assert load_error(config_copy).json_path == "$.principals.jwt[1].algorithms"


def test_key_whose_algorithm_is_not_pinned_is_refused(config_copy: Path) -> None:
    edit_gateway_yaml(
        config_copy,
        {"issuer": "https://rs.test", "algorithms": ["ES256"], "public_key_file": "policies/demo-jwt-public.pem"},
    )
    assert "holds no key for ES256" in str(load_error(config_copy))


@pytest.mark.parametrize(
    "sources",
    [{}, {"secret_env": "TEST_JWT_SECRET", "jwks_url": "https://idp.example/jwks"}],
    ids=["none", "two"],
)
def test_an_issuer_names_exactly_one_key_source(config_copy: Path, sources: dict[str, str]) -> None:
    edit_gateway_yaml(config_copy, {"issuer": "https://x.test", "algorithms": ["HS256"], **sources})
    error = load_error(config_copy)
    assert error.json_path == "$.principals.jwt[1]"
    assert "exactly one key source" in str(error)


def test_jwt_issuers_need_the_gateways_resource_uri(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, resource_uri=None)
    error = load_error(config_copy)
    assert error.json_path == "$.principals.jwt[0]"
    assert "server.resource_uri" in str(error)


def test_jwks_url_must_use_https_except_on_loopback(config_copy: Path) -> None:
    edit_gateway_yaml(
        config_copy, {"issuer": "https://x.test", "algorithms": ["RS256"], "jwks_url": "http://idp.example/k"}
    )
    assert load_error(config_copy).json_path == "$.principals.jwt[1].jwks_url"


def test_jwks_file_without_a_usable_key_is_refused(config_copy: Path) -> None:
    """Only public signing keys of pinned algorithms count: not a private JWK, an encryption key or another type."""
    private = {**jwk(rsa_key(), "private"), "d": "AQAB"}
    encryption = {**jwk(ec_key(), "enc"), "use": "enc"}
    (config_copy / "policies" / "keys.json").write_text(json.dumps({"keys": [private, encryption, {"kty": "oct"}]}))
    edit_gateway_yaml(
        config_copy, {"issuer": "https://x.test", "algorithms": ["ES256"], "jwks_file": "policies/keys.json"}
    )
    error = load_error(config_copy)
    assert error.json_path == "$.principals.jwt[1].jwks_file"
    assert "holds no key for ES256" in str(error)


def test_jwks_file_that_is_not_a_jwks_is_refused(config_copy: Path) -> None:
    (config_copy / "policies" / "keys.json").write_text('{"not": "keys"}')
    edit_gateway_yaml(
        config_copy, {"issuer": "https://x.test", "algorithms": ["ES256"], "jwks_file": "policies/keys.json"}
    )
    assert 'no "keys" list' in str(load_error(config_copy))


def test_the_same_issuer_twice_is_ambiguous(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, hs_issuer(), hs_issuer())
    error = load_error(config_copy)
    assert error.json_path == "$.principals.jwt[2].issuer"
    assert "configured twice" in str(error)


def test_an_algorithm_outside_the_three_is_a_schema_error(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, hs_issuer(algorithms=["HS512"]))
    assert load_error(config_copy).json_path == "$.principals.jwt[1].algorithms[0]"


def test_public_key_file_may_be_an_ec_key_or_a_certificate(config_copy: Path) -> None:
    (config_copy / "policies" / "ec.pem").write_bytes(public_pem(ec_key()))
    (config_copy / "policies" / "cert.pem").write_bytes(self_signed_certificate())
    edit_gateway_yaml(
        config_copy,
        {"issuer": "https://ec.test", "algorithms": ["ES256"], "public_key_file": "policies/ec.pem"},
        {"issuer": "https://cert.test", "algorithms": ["RS256"], "public_key_file": "policies/cert.pem"},
    )
    issuers = load_config(config_copy, env={}).gateway.jwt
    assert [[key.algorithm for key in issuer.keys] for issuer in issuers[1:]] == [["ES256"], ["RS256"]]


def self_signed_certificate() -> bytes:
    key = rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _line_of(path: Path, text: str, after: str | None = None) -> int:
    """The first line holding ``text`` (below the first holding ``after``, if given)."""
    lines = list(enumerate(path.read_text().splitlines(), 1))
    start = 0 if after is None else next(number for number, line in lines if after in line)
    return next(number for number, line in lines if number >= start and text in line)


# What an issuer may grant: allowed_roles, tenant or tenants, max_token_lifetime_s


def test_an_issuer_without_bounds_gets_the_defaults(config_copy: Path) -> None:
    edit_gateway_yaml(config_copy, hs_issuer())
    issuer = load_config(config_copy, env=ENV).gateway.jwt[-1]
    assert (issuer.allowed_roles, issuer.tenant, issuer.tenants) == (None, None, None)
    assert (issuer.max_token_lifetime_s, issuer.leeway_s) == (86_400, 30)


def test_an_issuers_bounds_are_loaded(config_copy: Path) -> None:
    edit_gateway_yaml(
        config_copy, hs_issuer(allowed_roles=["reader"], tenants=["acme", "globex"], max_token_lifetime_s=900)
    )
    issuer = load_config(config_copy, env=ENV).gateway.jwt[-1]
    assert (issuer.allowed_roles, issuer.tenants, issuer.max_token_lifetime_s) == (("reader",), ("acme", "globex"), 900)


def test_tenant_and_tenants_together_fail_at_load_naming_file_line_and_path(config_copy: Path) -> None:
    path = edit_gateway_yaml(config_copy, hs_issuer(tenant="acme", tenants=["acme"]))
    error = load_error(config_copy)
    assert (error.file, error.json_path) == (path, "$.principals.jwt[1].tenants")
    assert error.line == _line_of(path, "tenants:", after="issuer: https://hs.test")
    assert "not both" in str(error)


@pytest.mark.parametrize(
    ("setting", "json_path"),
    [
        ({"allowed_roles": ["support-agent", "*"]}, "$.principals.jwt[1].allowed_roles[1]"),
        ({"allowed_roles": "support-agent"}, "$.principals.jwt[1].allowed_roles"),
        ({"allowed_roles": ["reader", "reader"]}, "$.principals.jwt[1].allowed_roles"),
        ({"tenants": []}, "$.principals.jwt[1].tenants"),
        ({"tenants": ["acme corp"]}, "$.principals.jwt[1].tenants[0]"),
        ({"max_token_lifetime_s": 31 * 365 * 86_400}, "$.principals.jwt[1].max_token_lifetime_s"),
        ({"max_token_lifetime_s": 0}, "$.principals.jwt[1].max_token_lifetime_s"),
        ({"max_token_lifetime_s": "1h"}, "$.principals.jwt[1].max_token_lifetime_s"),
    ],
    ids=[
        "wildcard-role",
        "roles-not-a-list",
        "repeated-role",
        "no-tenants",
        "tenant-not-a-name",
        "31-years",
        "zero",
        "text",
    ],
)
def test_malformed_bounds_fail_at_load_naming_file_line_and_path(
    config_copy: Path, setting: dict[str, Any], json_path: str
) -> None:
    path = edit_gateway_yaml(config_copy, hs_issuer(**setting))
    error = load_error(config_copy)
    assert (error.file, error.json_path) == (path, json_path)
    (name,) = setting
    line = _line_of(path, f"{name}:", after="issuer: https://hs.test")
    item = int(json_path[-2]) + 1 if json_path.endswith("]") else 0  # block-style list items follow their key
    assert error.line == line + item
