"""JWT bearer tokens: signature, issuer, audience and lifetime checked, then claims mapped to a Principal.

A token names its issuer (``iss``) and key (``kid``), but never chooses how it
is checked: its issuer must be configured, its ``alg`` must be one that issuer
pins, and the key found for it verifies exactly that algorithm (so ``none``
and an HS256 token "signed" with an RSA public key both fail). ``exp``, ``iss``
and ``aud`` are required; ``nbf`` and ``iat`` are honoured within the issuer's
leeway. Header fields that point at keys elsewhere (``jku``, ``x5u``, ``jwk``)
are never followed.

A verified token is still refused when it claims more than its issuer may
grant: a role outside the issuer's ``allowed_roles``, a tenant outside its
``tenant`` or ``tenants``, or a lifetime over its ``max_token_lifetime_s``. Such
a token is refused as a whole, never trimmed to what is allowed: an identity
provider that mints more than it should is a fault to see, not to paper over.

Every refusal is the same ``Unauthenticated("Invalid token")``. Its ``detail``
names the check that failed in one of the stable words below, for the audit
trail; the reason itself is logged at debug level, never with the token.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.utils import base64url_decode

from gateway.auth.keysets import Clock, KeySet
from gateway.auth.principal import SUBJECT_PREFIX, Principal
from gateway.config import JwtIssuer
from gateway.errors import Unauthenticated

log = logging.getLogger("callgate.auth.jwt")

MAX_TOKEN_LENGTH = 8192
CACHE_LIMIT = 4096
REQUIRED_CLAIMS = ["exp", "iss", "aud"]

# Claim values become Casbin request fields and audit fields: only plain names get through.
# Subjects allow "|" and "@" because identity providers use them ("auth0|5f7c", "client@clients").
_SUBJECT = re.compile(r"[A-Za-z0-9_.@:|+/=-]{1,255}")
_TENANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ROLE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ROLE_SEPARATORS = re.compile(r"[\s,]+")

# What Unauthenticated.detail says about a refused JWT: stable, short, and never the token or a claim value.
#: Not a token callgate can verify: its shape, issuer, algorithm, key, signature, audience, nbf or iat.
INVALID = "jwt.invalid"
#: Past its exp (plus the leeway), whether seen for the first time or remembered.
EXPIRED = "jwt.expired"
#: Subject, tenant, roles or on_behalf_of missing where required, or not a plain name.
CLAIM_INVALID = "jwt.claim_invalid"
#: Names a role outside its issuer's allowed_roles.
ROLE_NOT_ALLOWED = "jwt.role_not_allowed"
#: Names a tenant its issuer may not speak for.
TENANT_NOT_ALLOWED = "jwt.tenant_not_allowed"
#: Valid for longer than its issuer's max_token_lifetime_s.
LIFETIME_TOO_LONG = "jwt.lifetime_too_long"


class TokenRefused(Exception):
    """Why a token was refused: the message for the debug log only, ``detail`` for the audit trail."""

    def __init__(self, message: str, detail: str = INVALID) -> None:
        super().__init__(message)
        self.detail = detail


class JwtAuthenticator:
    """Verifies bearer JWTs from the configured issuers.

    An agent sends the same token on every call until it expires, and checking
    one costs about 100 µs (most of it PyJWT's pure-Python decoding). So a
    verified token is remembered with its principal until its ``exp`` (plus
    leeway) passes or its issuer's keys change, whichever comes first; only
    tokens that passed every check are remembered, and at most ``CACHE_LIMIT``.
    """

    def __init__(
        self, issuers: Iterable[JwtIssuer], clock: Clock = time.monotonic, wall_clock: Clock = time.time
    ) -> None:
        self._issuers = {issuer.issuer: (issuer, KeySet(issuer, clock)) for issuer in issuers}
        self._decoder = jwt.PyJWT({"require": REQUIRED_CLAIMS, "enforce_minimum_key_length": True})
        self._wall_clock = wall_clock
        self._verified: dict[str, _Verified] = {}

    def authenticate(self, token: str) -> Principal:
        try:
            known = self._verified.get(token)
            if known is not None:
                if self._wall_clock() >= known.deadline:
                    del self._verified[token]
                    raise TokenRefused("expired since it was verified", EXPIRED)
                if known.keys.generation == known.generation:
                    return known.principal
            verified = self._verify(token)
        except (TokenRefused, jwt.PyJWTError) as exc:
            detail = exc.detail if isinstance(exc, TokenRefused) else _detail_of(exc)
            log.debug("bearer JWT refused (%s): %s", detail, exc)
            raise Unauthenticated("Invalid token", detail=detail) from None
        if len(self._verified) >= CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = verified
        return verified.principal

    def _verify(self, token: str) -> _Verified:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRefused(f"longer than {MAX_TOKEN_LENGTH} characters")
        header, unverified = _unverified_parts(token)
        claimed = unverified.get("iss")
        entry = self._issuers.get(claimed) if isinstance(claimed, str) else None
        if entry is None:
            raise TokenRefused(f"unknown issuer {_shown(claimed)}")
        issuer, keys = entry
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in issuer.algorithms:
            raise TokenRefused(f"algorithm {_shown(algorithm)} is not pinned for issuer {issuer.issuer!r}")
        generation = keys.generation  # read first: keys replaced during the check make the entry stale
        key = keys.key_for(kid if isinstance(kid, str) else None, algorithm)
        if key is None:
            raise TokenRefused(f"no {algorithm} key with kid {_shown(kid)} for issuer {issuer.issuer!r}")
        claims = self._decoder.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            audience=issuer.audience,
            issuer=issuer.issuer,
            leeway=issuer.leeway_s,
        )
        check_lifetime(claims, issuer, self._wall_clock())
        principal = principal_from_claims(claims, issuer)
        return _Verified(principal, float(claims["exp"]) + issuer.leeway_s, keys, generation)


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed every check: its principal, until ``deadline`` (wall clock) or a change of ``keys``."""

    principal: Principal
    deadline: float
    keys: KeySet
    generation: int


def jws_header(credential: str) -> dict[str, Any] | None:
    """The JOSE header of a credential shaped like a JWT (three parts, the first a JSON object with ``alg``)."""
    if credential.count(".") != 2:
        return None
    try:
        header = json.loads(base64url_decode(credential.split(".", 1)[0]))
    except (ValueError, RecursionError):
        return None
    return header if isinstance(header, dict) and isinstance(header.get("alg"), str) else None


def check_lifetime(claims: dict[str, Any], issuer: JwtIssuer, now: float) -> None:
    """Refuses a verified token valid for longer than its issuer's ``max_token_lifetime_s``.

    With ``iat`` the lifetime is ``exp - iat``, both read from the issuer's
    clock, so no leeway applies. Whether or not it has one, ``exp`` may lie at
    most the cap from now, plus the leeway for an issuer clock running ahead:
    so a token without ``iat`` cannot live longer by leaving it out.
    """
    cap = issuer.max_token_lifetime_s
    expires = int(claims["exp"])  # PyJWT has checked that exp (and iat, when present) read as integers
    if "iat" in claims and expires - int(claims["iat"]) > cap:
        lifetime = expires - int(claims["iat"])
        raise TokenRefused(f"valid for {lifetime} s from its iat, over the cap of {cap:g} s", LIFETIME_TOO_LONG)
    if expires - now > cap + issuer.leeway_s:
        raise TokenRefused(f"valid for {expires - now:.0f} s from now, over the cap of {cap:g} s", LIFETIME_TOO_LONG)


def principal_from_claims(claims: dict[str, Any], issuer: JwtIssuer) -> Principal:
    """The caller a verified token describes, through the issuer's claim names, within what the issuer may grant."""
    names = issuer.claims
    subject = _claim(claims, names.subject)
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise TokenRefused(f"claim {names.subject!r} is missing or not a plain name", CLAIM_INVALID)
    tenant = _tenant(_claim(claims, names.tenant), issuer)
    on_behalf_of = _claim(claims, names.on_behalf_of) if names.on_behalf_of else None
    if on_behalf_of is not None and (not isinstance(on_behalf_of, str) or not _SUBJECT.fullmatch(on_behalf_of)):
        raise TokenRefused(f"claim {names.on_behalf_of!r} is not a plain name", CLAIM_INVALID)
    roles = _roles(_claim(claims, names.roles), issuer)
    return Principal(subject, tenant, roles, method="jwt", on_behalf_of=on_behalf_of)


def _tenant(claimed: Any, issuer: JwtIssuer) -> str:
    """The principal's tenant: the issuer's pin (which a token may not contradict), or the claim, if allowed."""
    name = issuer.claims.tenant
    if issuer.tenant is not None:
        if claimed is not None and claimed != issuer.tenant:
            # Mapping it to the pin instead would silently rewrite what the identity provider said.
            raise TokenRefused(f"claim {name!r} names a tenant other than {issuer.tenant!r}", TENANT_NOT_ALLOWED)
        return issuer.tenant
    if not isinstance(claimed, str) or not _TENANT.fullmatch(claimed):
        raise TokenRefused(f"claim {name!r} is missing or not a plain name", CLAIM_INVALID)
    if issuer.tenants is not None and claimed not in issuer.tenants:
        raise TokenRefused(
            f"tenant {_shown(claimed)} is not one issuer {issuer.issuer!r} may speak for", TENANT_NOT_ALLOWED
        )
    return claimed


def _roles(value: Any, issuer: JwtIssuer) -> tuple[str, ...]:
    """Roles from a list or from one string separated by spaces or commas, each one the issuer may grant.

    A name no policy could hold (``*``, ``a,b`` in a list) or one outside
    ``allowed_roles`` refuses the whole token: keeping the rest would hide an
    identity provider that grants more than it should.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        names = [name for name in _ROLE_SEPARATORS.split(value) if name]  # separators at either end leave ""
    elif isinstance(value, list) and all(isinstance(name, str) for name in value):
        names = value
    else:
        raise TokenRefused("the roles claim is neither a list of strings nor a string", CLAIM_INVALID)
    for name in names:
        if not _ROLE.fullmatch(name) or name.startswith(SUBJECT_PREFIX):
            raise TokenRefused(f"the roles claim holds {_shown(name)}, which is not a plain role name", CLAIM_INVALID)
        if issuer.allowed_roles is not None and name not in issuer.allowed_roles:
            raise TokenRefused(
                f"role {name!r} is not one issuer {issuer.issuer!r} may grant (allowed_roles)", ROLE_NOT_ALLOWED
            )
    return tuple(dict.fromkeys(names))


def _detail_of(error: jwt.PyJWTError) -> str:
    return EXPIRED if isinstance(error, jwt.ExpiredSignatureError) else INVALID


def _claim(claims: dict[str, Any], name: str) -> Any:
    """``claims[name]``; a dotted name that is not itself a claim reaches into objects (``act.sub``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before any check, only to find the issuer and key; nothing here is trusted."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefused("not a compact JWS")
    try:
        header, claims = (json.loads(base64url_decode(part)) for part in parts[:2])
    except (ValueError, RecursionError):
        raise TokenRefused("header or claims are not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRefused("header or claims are not JSON objects")
    return header, claims


def _shown(value: Any) -> str:
    """A value from an unverified token, cut short for a log line."""
    return repr(value)[:80]
