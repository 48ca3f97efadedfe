"""Keys and tokens for the JWT tests: honest ones from real keys, and the forgeries an attacker would send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import REPO_ROOT

DEMO_ISSUER = "https://idp.acme.example"
DEMO_AUDIENCE = "http://127.0.0.1:8700"  # the shipped server.resource_uri default
DEMO_PRIVATE_KEY = (REPO_ROOT / "policies" / "demo-jwt-private.pem").read_bytes()
DEMO_PUBLIC_PEM = (REPO_ROOT / "policies" / "demo-jwt-public.pem").read_bytes()
HS_SECRET = "test-only-hs256-secret-0123456789abcdef"


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for the demo issuer (support-bot in acme); an override of None removes the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": DEMO_ISSUER,
        "aud": DEMO_AUDIENCE,
        "sub": "support-bot",
        "tenant": "acme",
        "roles": ["support-agent"],
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def demo_token(**overrides: Any) -> str:
    """An RS256 token signed with the demo identity provider's (public, demo-only) private key."""
    return jwt.encode(claims(**overrides), DEMO_PRIVATE_KEY, algorithm="RS256")


def sign(payload: dict[str, Any], key: Any, algorithm: str, kid: str | None = None) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """``header.payload`` as base64url JSON, the signing input of a JWS."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def unsigned(payload: dict[str, Any]) -> str:
    """``alg: none``: a token with no signature at all."""
    return compact({"alg": "none", "typ": "JWT"}, payload) + "."


def hs256_forged(payload: dict[str, Any], secret: bytes) -> str:
    """An HS256 token MACed by hand with ``secret`` (PyJWT refuses to use a PEM key as an HMAC secret)."""
    signing_input = compact({"alg": "HS256", "typ": "JWT"}, payload)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK of ``key``, as an identity provider publishes it."""
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    entry: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**entry, "kid": kid, "use": "sig"}
