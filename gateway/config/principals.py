"""``principals`` in ``policies/gateway.yaml`` as loaded: API keys, JWT issuers, the loopback principal.

Frozen records like the rest of the configuration (model.py); jwt_issuers.py builds the issuers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """A principal that authenticates with an API key, stored as the key's SHA-256."""

    sha256: str
    subject: str
    tenant: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnonymousPrincipal:
    """Who a request that presents no credential is, on a loopback listener only (a test harness)."""

    subject: str
    tenant: str
    roles: tuple[str, ...]


#: The JWS algorithms callgate verifies; each belongs to one kind of key.
JwtAlgorithm = Literal["HS256", "RS256", "ES256"]


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key or shared secret, and the one algorithm it verifies: the key decides, never the token."""

    algorithm: JwtAlgorithm
    key: Any = field(repr=False)  # bytes for HS256, a cryptography public key for RS256 and ES256
    kid: str | None = None


@dataclass(frozen=True, slots=True)
class JwksSource:
    """Where an issuer publishes its keys: a JWKS file (absolute path) or URL, fetched again when needed."""

    location: str
    is_url: bool
    min_refresh_s: float = 60.0
    max_age_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class JwtClaimNames:
    """Which claims hold the principal; a dotted name (``act.sub``) reaches into an object claim."""

    subject: str = "sub"
    tenant: str = "tenant"
    roles: str = "roles"
    on_behalf_of: str | None = None


@dataclass(frozen=True, slots=True)
class JwtIssuer:
    """One issuer whose bearer tokens are accepted, with its algorithms pinned to its keys."""

    issuer: str
    audience: str
    algorithms: tuple[JwtAlgorithm, ...]
    keys: tuple[VerificationKey, ...]
    jwks: JwksSource | None = None
    claims: JwtClaimNames = JwtClaimNames()
    #: When set, every principal of this issuer is in this tenant: the tenant claim may be absent,
    #: and a token whose tenant claim names another tenant is refused.
    tenant: str | None = None
    #: When set (and ``tenant`` is not), the tenant claim is required and must be one of these.
    tenants: tuple[str, ...] | None = None
    #: When set, a token naming any role outside these is refused as a whole (never trimmed).
    #: None grants whatever the token names, which ``callgate policy check`` warns about.
    allowed_roles: tuple[str, ...] | None = None
    #: Longest a token may be valid: ``exp - iat``, and ``exp`` from now (plus the leeway).
    max_token_lifetime_s: float = 86_400.0
    leeway_s: float = 30.0

    @property
    def restricts_tenants(self) -> bool:
        """Whether this issuer may speak only for tenants the configuration names."""
        return self.tenant is not None or self.tenants is not None
