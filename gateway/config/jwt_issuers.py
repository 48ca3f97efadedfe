"""The ``principals.jwt`` section of gateway.yaml: issuers, their pinned algorithms, and their keys.

Key material is read and checked here, at load: a secret's environment
variable must be set, a key file must be readable and hold a public key
callgate can verify with, a JWKS file must hold at least one usable key. Each
key verifies exactly one algorithm (a shared secret HS256, an RSA key RS256,
an EC P-256 key ES256), and an issuer may list only the algorithms of its key
source, so no token can make callgate use a public key as an HMAC secret.

An issuer also bounds what its tokens may claim (checked in gateway/auth/jwt.py):
``allowed_roles``, its tenants (``tenant`` pins one, ``tenants`` allows a list;
one or the other), and ``max_token_lifetime_s``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from gateway.config.principals import JwksSource, JwtAlgorithm, JwtClaimNames, JwtIssuer, VerificationKey

KEY_SOURCES = ("secret_env", "public_key_file", "jwks_file", "jwks_url")
#: RFC 7518 section 3.2: an HS256 key at least as long as the hash output.
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
_JWKS_ONLY = ("jwks_min_refresh_s", "jwks_max_age_s")
_JWK_TYPES: dict[str, JwtAlgorithm] = {"RSA": "RS256", "EC": "ES256"}


class IssuerProblem(Exception):
    """What is wrong with an entry of ``principals.jwt``, and where (path parts below ``principals.jwt``)."""

    def __init__(self, message: str, *where: str | int) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def jwt_issuers(
    entries: Sequence[Mapping[str, Any]], config_dir: Path, env: Mapping[str, str], resource_uri: str | None
) -> tuple[JwtIssuer, ...]:
    """Every issuer of ``principals.jwt``, keys loaded; raises :class:`IssuerProblem`."""
    issuers: dict[str, JwtIssuer] = {}
    for index, entry in enumerate(entries):
        try:
            issuer = _issuer(entry, config_dir, env, resource_uri)
        except IssuerProblem as exc:
            raise IssuerProblem(exc.message, index, *exc.where) from None
        if issuer.issuer in issuers:
            # Tokens are matched to an issuer by their iss claim: two entries would make that ambiguous.
            raise IssuerProblem(f"issuer {issuer.issuer!r} is configured twice", index, "issuer")
        issuers[issuer.issuer] = issuer
    return tuple(issuers.values())


def parse_jwks(data: bytes) -> tuple[VerificationKey, ...]:
    """The public signing keys of a JWKS document that callgate verifies with; others are skipped.

    Raises ValueError when ``data`` is not a JWKS at all.
    """
    try:
        document = json.loads(data)
    except ValueError:
        raise ValueError("not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError('not a JWKS: no "keys" list')
    return tuple(key for key in map(_jwk_key, entries) if key is not None)


def algorithm_of(key: Any) -> JwtAlgorithm | None:
    """The one algorithm a public key verifies, or None when callgate does not accept the key."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256" if key.key_size >= MIN_RSA_BITS else None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    return None


def _issuer(entry: Mapping[str, Any], config_dir: Path, env: Mapping[str, str], resource_uri: str | None) -> JwtIssuer:
    if resource_uri is None:
        raise IssuerProblem("JWT issuers need server.resource_uri: the gateway's own URI, which tokens must name")
    sources = [name for name in KEY_SOURCES if name in entry]
    if len(sources) != 1:
        found = f"; found {', '.join(sources)}" if sources else ""
        raise IssuerProblem(f"needs exactly one key source of {', '.join(KEY_SOURCES)}{found}")
    keys, jwks = _keys(entry, sources[0], tuple(entry["algorithms"]), config_dir, env)
    if jwks is None:
        for name in _JWKS_ONLY:
            if name in entry:
                raise IssuerProblem(f"{name} applies only to jwks_file and jwks_url", name)
    if "tenant" in entry and "tenants" in entry:
        # Two answers to one question (which tenants may this issuer speak for?) that could disagree.
        raise IssuerProblem(
            "give tenant (every token is in that one tenant) or tenants (the token's tenant claim must be one of"
            " them), not both",
            "tenants",
        )
    # Absent settings are left to JwtIssuer and JwtClaimNames, which alone hold the defaults.
    given: dict[str, Any] = {name: float(entry[name]) for name in ("max_token_lifetime_s", "leeway_s") if name in entry}
    given |= {name: tuple(entry[name]) for name in ("tenants", "allowed_roles") if name in entry}
    return JwtIssuer(
        issuer=entry["issuer"],
        audience=entry.get("audience", resource_uri),
        algorithms=tuple(entry["algorithms"]),
        keys=keys,
        jwks=jwks,
        claims=JwtClaimNames(**entry.get("claims", {})),
        tenant=entry.get("tenant"),
        **given,
    )


def _keys(
    entry: Mapping[str, Any],
    source: str,
    algorithms: tuple[JwtAlgorithm, ...],
    config_dir: Path,
    env: Mapping[str, str],
) -> tuple[tuple[VerificationKey, ...], JwksSource | None]:
    """The keys in hand at load, and where to fetch them again (for a JWKS)."""
    if source == "secret_env":
        if algorithms != ("HS256",):
            raise IssuerProblem("a shared secret verifies HS256 only: set algorithms to [HS256]", "algorithms")
        return (_secret(entry[source], env),), None
    if "HS256" in algorithms:
        raise IssuerProblem("HS256 needs secret_env: a public key is never used as an HMAC secret", "algorithms")
    if source == "jwks_url":
        _check_jwks_url(entry[source])
        return (), _jwks_source(entry, entry[source], is_url=True)  # fetched when the authenticator is built
    path = Path(entry[source]) if Path(entry[source]).is_absolute() else config_dir / entry[source]
    data = _read(path, source)
    loaded = (_pem_key(data, path),) if source == "public_key_file" else _jwks_file(data, path)
    keys = tuple(key for key in loaded if key.algorithm in algorithms)
    if not keys:
        raise IssuerProblem(
            f"{path} holds no key for {', '.join(algorithms)} (an RSA key verifies RS256, EC P-256 ES256)", source
        )
    return keys, None if source == "public_key_file" else _jwks_source(entry, str(path), is_url=False)


def _jwks_source(entry: Mapping[str, Any], location: str, *, is_url: bool) -> JwksSource:
    given = {name: float(entry[f"jwks_{name}"]) for name in ("min_refresh_s", "max_age_s") if f"jwks_{name}" in entry}
    return JwksSource(location, is_url=is_url, **given)


def _secret(name: str, env: Mapping[str, str]) -> VerificationKey:
    value = env.get(name)
    if not value:
        raise IssuerProblem(f"needs environment variable {name}, which is not set", "secret_env")
    secret = value.encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise IssuerProblem(f"the secret in {name} is shorter than {MIN_SECRET_BYTES} bytes", "secret_env")
    return VerificationKey("HS256", secret)


def _read(path: Path, source: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IssuerProblem(f"cannot read {path}: {exc.strerror or exc}", source) from None


def _pem_key(data: bytes, path: Path) -> VerificationKey:
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            problem = "holds a private key; configure its public key" if b"PRIVATE KEY" in data else None
            raise IssuerProblem(
                f"{path} {problem or 'is not a PEM public key or certificate'}", "public_key_file"
            ) from None
    algorithm = algorithm_of(key)
    if algorithm is None:
        raise IssuerProblem(
            f"{path} holds a key callgate does not verify with (RSA of {MIN_RSA_BITS} bits or more, or EC P-256)",
            "public_key_file",
        )
    return VerificationKey(algorithm, key)


def _jwks_file(data: bytes, path: Path) -> tuple[VerificationKey, ...]:
    try:
        return parse_jwks(data)
    except ValueError as exc:
        raise IssuerProblem(f"{path}: {exc}", "jwks_file") from None


def _check_jwks_url(url: str) -> None:
    parts = urlsplit(url)
    # Keys fetched over plain HTTP could be swapped on the way: only loopback may skip TLS.
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        raise IssuerProblem("jwks_url must use https (plain http only on loopback)", "jwks_url")


def _jwk_key(jwk: Any) -> VerificationKey | None:
    """One JWK as a verification key; None for private, encryption and unsupported keys."""
    if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or "d" in jwk:
        return None
    expected = _JWK_TYPES.get(jwk.get("kty", ""))
    if expected is None or jwk.get("alg", expected) != expected:
        return None
    try:
        key = PyJWK(jwk, algorithm=expected).key
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    if algorithm_of(key) != expected:  # an EC key on another curve, a short RSA key
        return None
    kid = jwk.get("kid")
    return VerificationKey(expected, key, kid if isinstance(kid, str) else None)
