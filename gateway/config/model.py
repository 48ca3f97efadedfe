"""The loaded configuration: frozen records, built once per load and never mutated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class HttpBackendSpec:
    """An HTTP endpoint behind a tool. ``url`` may hold ``{arg}`` placeholders in its path."""

    method: str
    url: str
    args: Literal["json", "query", "none"]
    headers: tuple[tuple[str, str], ...]
    max_response_bytes: int
    #: Names the service when one origin fronts several; tools of one service share its circuit and limits.
    service: str | None = None
    type: Literal["http"] = "http"


@dataclass(frozen=True, slots=True)
class PythonBackendSpec:
    """An importable async callable behind a tool, named ``module:function``."""

    callable: str
    type: Literal["python"] = "python"


BackendSpec = HttpBackendSpec | PythonBackendSpec


@dataclass(frozen=True, slots=True)
class BreakerSpec:
    """A tool's circuit-breaker settings: consecutive failures that open it, seconds before a trial call."""

    failure_threshold: int = 5
    reset_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ConcurrencySpec:
    """How many calls may be at a tool's backend at once, and how many may wait for a turn.

    The defaults: 64 at once is well above what a healthy backend needs (the benchmark drives 32), yet
    one hung backend holds at most an eighth of the shared upstream pool (512 connections). A queue
    twice that deep lets a burst wait its turn instead of being refused; a waiting call costs only a
    future, and the tool's deadline bounds its wait.
    """

    max_in_flight: int = 64
    max_queue: int = 128


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """Retries of an idempotent tool: attempts in all (the first included), and the full-jitter backoff bounds."""

    max_attempts: int = 3
    base_delay_s: float = 0.05
    max_delay_s: float = 1.0


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    """``requests`` calls per ``per_s`` seconds, of which up to ``burst`` may come at once."""

    requests: int
    per_s: float
    burst: int

    @property
    def interval_s(self) -> float:
        """The sustained spacing between calls: GCRA's emission interval."""
        return self.per_s / self.requests


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """``rate_limits`` in ``policies/gateway.yaml``.

    ``roles``: each agent's allowance on each tool, by role (an agent with several roles gets the
    most generous; ``"*"`` applies to agents with none of the listed roles). ``tenants``: each
    tenant's allowance across all its agents and tools (``"*"``: any tenant not listed).
    """

    roles: dict[str, RateLimitSpec] = field(default_factory=dict)
    tenants: dict[str, RateLimitSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as declared in ``tool_specs/<name>.yaml``."""

    name: str
    description: str
    input_schema: dict[str, Any]
    backend: BackendSpec
    source: Path
    title: str | None = None
    output_schema: dict[str, Any] | None = None
    timeout_s: float = 10.0
    idempotent: bool = False
    risk: Literal["low", "medium", "high"] = "low"
    #: None when the spec declares no ``breaker``: the backend's circuit then uses others' or the defaults.
    breaker: BreakerSpec | None = None
    #: None when the spec declares no ``concurrency``: the backend's limiter then uses others' or the defaults.
    concurrency: ConcurrencySpec | None = None
    #: None when the spec declares no ``retry``: an idempotent tool then gets the defaults; others are never retried.
    retry: RetrySpec | None = None
    #: Each agent's allowance on this tool, on top of its role's and its tenant's.
    rate_limit: RateLimitSpec | None = None
    #: When the shared store (Redis) is unreachable: decide from this process's own buckets, not refuse.
    rate_limit_local_fallback: bool = False


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """A principal that authenticates with an API key, stored as the key's SHA-256."""

    sha256: str
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
    #: When set, every principal of this issuer is in this tenant and the tenant claim is not read.
    tenant: str | None = None
    leeway_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 64
    #: Longest JSON string (a value or an object key) a request may hold, in characters.
    max_string_length: int = 262_144
    #: Seconds from the first read of a request body until all of it must have arrived (slow clients get 408).
    body_read_timeout_s: float = 10.0
    #: uvicorn answers 503 at once while this many connections (the new one included) or requests are open.
    limit_concurrency: int = 1000
    #: uvicorn closes a keep-alive connection idle this many whole seconds after a response.
    timeout_keep_alive_s: int = 5
    max_batch_length: int = 100
    allowed_origins: tuple[str, ...] = ()
    session_idle_s: float = 3600.0
    max_sessions: int = 10_000
    #: Reload when files under policies/ or tool_specs/ change (SIGHUP and the admin endpoint always work).
    watch_config: bool = True
    #: The gateway's own resource URI (RFC 9728): the audience JWTs must carry, and what its metadata names.
    resource_uri: str | None = None


@dataclass(frozen=True, slots=True)
class AuditSettings:
    dir: Path
    fsync: bool = True


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """``policies/gateway.yaml``."""

    server: ServerSettings
    api_keys: tuple[ApiKeyEntry, ...]
    audit: AuditSettings
    jwt: tuple[JwtIssuer, ...] = ()
    rate_limits: RateLimitSettings = RateLimitSettings()


@dataclass(frozen=True, slots=True)
class Config:
    """Everything in one config directory, with the version hash of its files."""

    config_dir: Path
    version: str
    gateway: GatewaySettings
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    model_path: Path = Path()
    policy_path: Path = Path()
