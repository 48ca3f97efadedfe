"""The loaded configuration: frozen records, built once per load and never mutated.

Who may call (``principals`` in gateway.yaml) has its records in principals.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.config.principals import AnonymousPrincipal, ApiKeyEntry, JwtIssuer


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

    ``budget``: each principal's requests of every kind (every ``tools/call``, known tool or not,
    allowed or not; ``tools/list``, ``initialize``, ``ping``), spent before authorization, so a loop
    of refused calls is throttled like any other. The default, 1200 a minute with 200 at once, is the
    most generous shipped per-tool role allowance (admin): no role's limit on one tool is tightened,
    while the requests a principal can make across all tools and refusals together are capped.
    ``initialize``: each principal's MCP ``initialize`` requests (each opens a session); one a second
    with 20 at once is far more than a client reconnecting needs.
    """

    roles: dict[str, RateLimitSpec] = field(default_factory=dict)
    tenants: dict[str, RateLimitSpec] = field(default_factory=dict)
    budget: RateLimitSpec = RateLimitSpec(requests=1200, per_s=60.0, burst=200)
    initialize: RateLimitSpec = RateLimitSpec(requests=60, per_s=60.0, burst=20)


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
    #: The tool's own PII overrides (``pii:`` in its spec), above gateway.yaml's defaults, below its rules.
    pii: PiiToolOverrides | None = None
    #: ``required``: every call waits for a human's approval; ``policy``: only when policy.csv or
    #: ``approvals.require_for_risk`` says so.
    approval: Literal["required", "policy"] = "policy"
    #: ``redacted``: audit records of this tool's calls carry its arguments, redacted (gateway.audit.redaction);
    #: ``none``: only their keys and keyed digest.
    audit_arguments: Literal["none", "redacted"] = "none"


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
    #: Bytes of one request head (request line and headers) beyond which the request gets 431 and is closed.
    max_header_bytes: int = 16_384
    #: Header fields one request may carry; one more gets 431.
    max_headers: int = 100
    #: Seconds a connection has for a request head, from its opening or the previous response; then it closes.
    header_read_timeout_s: float = 10.0
    #: Host names (``*.example.com`` patterns, or ``*`` for any) requests may name; the rest get 403.
    #: Empty: loopback names on a loopback listener, and no start at all on any other.
    allowed_hosts: tuple[str, ...] = ()
    #: The environment variable holding the bearer token /metrics requires; None leaves /metrics to loopback.
    metrics_token_env: str | None = None
    max_batch_length: int = 100
    allowed_origins: tuple[str, ...] = ()
    session_idle_s: float = 3600.0
    max_sessions: int = 10_000
    #: Open MCP sessions one principal (subject and tenant) may hold; one more evicts its own least recently used.
    max_sessions_per_principal: int = 32
    #: Reload when files under policies/ or tool_specs/ change (SIGHUP and the admin endpoint always work).
    watch_config: bool = True
    #: The gateway's own resource URI (RFC 9728): the audience JWTs must carry, and what its metadata names.
    resource_uri: str | None = None
    #: After SIGTERM: seconds calls in flight have to finish before they are cancelled (and audited as such).
    shutdown_timeout_s: float = 20.0


@dataclass(frozen=True, slots=True)
class PiiPattern:
    """One regular expression of a custom recognizer, and the score a match gets before context."""

    regex: str
    score: float = 0.6


@dataclass(frozen=True, slots=True)
class PiiRecognizerSpec:
    """A custom recognizer from ``pii.recognizers`` in gateway.yaml: patterns with context words, or a deny list."""

    name: str
    entity: str
    patterns: tuple[PiiPattern, ...] = ()
    context: tuple[str, ...] = ()
    deny_list: tuple[str, ...] = ()


#: What callgate does with one entity type found in one direction: replace it by ``<TYPE>``, keep its last
#: ``mask_keep`` characters, put a keyed per-tenant pseudonym ``<TYPE:8 hex>`` in its place, refuse the
#: call (-31451), or leave it.
PiiAction = Literal["redact", "mask", "hash", "block", "allow"]
#: Arguments on the way to the backend, or the result on the way to the agent.
PiiDirection = Literal["arguments", "result"]
PII_DIRECTIONS: tuple[PiiDirection, ...] = ("arguments", "result")

#: Shipped protection: scrubbed both ways for every tool, with or without a ``pii:`` section in gateway.yaml.
DEFAULT_PII_ACTIONS: dict[str, PiiAction] = {
    "EMAIL_ADDRESS": "redact",
    "PHONE_NUMBER": "redact",
    "CREDIT_CARD": "redact",
    "US_SSN": "redact",
    "IBAN_CODE": "redact",
    "IP_ADDRESS": "redact",
}


@dataclass(frozen=True, slots=True)
class PiiToolOverrides:
    """``pii:`` in a tool spec: actions by entity type for the tool's arguments and for its result."""

    arguments: dict[str, PiiAction] = field(default_factory=dict)
    result: dict[str, PiiAction] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PiiRule:
    """One entry of ``pii.rules``: actions for the tools ``tool`` names (a name, a prefix ending in ``*``,
    or ``*``), for callers holding any of ``roles`` (empty: every caller), in ``directions``."""

    tool: str
    entities: dict[str, PiiAction]
    roles: tuple[str, ...] = ()
    directions: tuple[PiiDirection, ...] = PII_DIRECTIONS


@dataclass(frozen=True, slots=True)
class PiiSettings:
    """``pii`` in ``policies/gateway.yaml``; a file without it gets these defaults (the shipped protection)."""

    #: Findings scored below this are ignored.
    score_threshold: float = 0.5
    #: Characters scanned per call and direction (strings, object keys, long numbers); beyond: ``over_budget``.
    max_text_chars: int = 65_536
    #: Text over the budget refuses the call, or is cut to the budget (and the rest scanned); never passed unscanned.
    over_budget: Literal["refuse", "truncate"] = "refuse"
    #: Exact values never flagged (the company's public support address).
    allow_list: tuple[str, ...] = ()
    #: A spaCy model for PERSON and LOCATION; None: pattern recognizers only.
    nlp_model: str | None = None
    #: Characters the ``mask`` action keeps at the end of a value.
    mask_keep: int = 4
    #: Action by entity type, both directions, every tool: the shipped defaults with the file's on top.
    defaults: dict[str, PiiAction] = field(default_factory=lambda: dict(DEFAULT_PII_ACTIONS))
    recognizers: tuple[PiiRecognizerSpec, ...] = ()
    rules: tuple[PiiRule, ...] = ()
    #: The key the ``hash`` action derives each tenant's pseudonyms from (``CALLGATE_PII_KEY``, else
    #: ``key_file``); loaded only when some action is ``hash``.
    hash_key: bytes | None = field(default=None, repr=False)
    #: Where the key lives without ``CALLGATE_PII_KEY``: ``pii.key_file``, else ``pii.key`` in the audit directory.
    key_file: Path | None = None

    @property
    def entities(self) -> frozenset[str]:
        """Every entity type this section names: defaults, rules and custom recognizers."""
        named = set(self.defaults)
        for rule in self.rules:
            named.update(rule.entities)
        named.update(spec.entity for spec in self.recognizers)
        return frozenset(named)


#: ``fsync``: one fdatasync per group of records before their calls are answered (survives a power cut);
#: ``write``: handed to the operating system before the answer (survives a gateway crash, not a power cut).
AuditDurability = Literal["fsync", "write"]


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """``audit`` in ``policies/gateway.yaml``: where the trail lives, how durable, how it rotates and is sealed."""

    dir: Path
    durability: AuditDurability = "fsync"
    #: A segment is closed and the next one begun past this size or this age; segments are never rewritten.
    segment_max_bytes: int = 64 * 1024 * 1024
    segment_max_age_s: float = 86_400.0
    #: A checkpoint (HMAC-signed when CALLGATE_AUDIT_CHECKPOINT_KEY is set) after this many records or seconds.
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 60.0


Risk = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    """``approvals`` in ``policies/gateway.yaml``: how long a request waits, which risks always need one, who hears.

    A call needs a human's approval when its tool spec says ``approval: required``, when its tool's
    ``risk`` is in ``require_for_risk``, or when an ``approve`` rule of policy.csv matches it.
    """

    #: Seconds a request may wait for its decision; the approved call must also run within them.
    ttl_s: float = 900.0
    #: Tools of these risks always need approval (a tool spec's ``risk``).
    require_for_risk: tuple[Risk, ...] = ()
    #: Requests one principal (subject and tenant) may have waiting at once; one more is refused (-31429).
    max_pending_per_principal: int = 20
    #: Seconds a decided or expired request is remembered after its expiry, so a late repeat is told why.
    keep_s: float = 3600.0
    #: Told of every new request (tool, subject, tenant, id, expiry; never argument values). None: nobody.
    notify_url: str | None = None
    notify_timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """``logging`` in ``policies/gateway.yaml``: one JSON object per line (production) or readable lines."""

    format: Literal["json", "console"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """``policies/gateway.yaml``."""

    server: ServerSettings
    api_keys: tuple[ApiKeyEntry, ...]
    audit: AuditSettings
    jwt: tuple[JwtIssuer, ...] = ()
    #: ``principals.loopback_anonymous``: who a request without any credential is (loopback listeners only).
    loopback_anonymous: AnonymousPrincipal | None = None
    rate_limits: RateLimitSettings = RateLimitSettings()
    pii: PiiSettings = PiiSettings()
    approvals: ApprovalSettings = ApprovalSettings()
    logging: LoggingSettings = LoggingSettings()


@dataclass(frozen=True, slots=True)
class Config:
    """Everything in one config directory, with the version hash of its files."""

    config_dir: Path
    version: str
    gateway: GatewaySettings
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    model_path: Path = Path()
    policy_path: Path = Path()
