"""Read a config directory: YAML files checked against the shipped JSON Schemas.

Loading is all-or-nothing: any problem raises :class:`ConfigError` naming the
file, the line and the JSON path, and nothing half-loaded escapes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gateway.config.files import ConfigError, json_path, line_of, read_checked, schema
from gateway.config.jwt_issuers import IssuerProblem, jwt_issuers
from gateway.config.model import (
    ApprovalSettings,
    AuditSettings,
    BreakerSpec,
    ConcurrencySpec,
    Config,
    GatewaySettings,
    HttpBackendSpec,
    LoggingSettings,
    PiiToolOverrides,
    PythonBackendSpec,
    RateLimitSettings,
    RateLimitSpec,
    RetrySpec,
    ServerSettings,
    ToolSpec,
)
from gateway.config.pii import KeyProblem, PiiProblem, check_named_entities, pii_settings, tool_overrides, with_hash_key
from gateway.config.principals import AnonymousPrincipal, ApiKeyEntry, JwtIssuer
from gateway.mcp_headers import header_params


def default_config_dir() -> Path:
    """``$CALLGATE_CONFIG_DIR``, else the working directory when it holds ``policies/``."""
    configured = os.environ.get("CALLGATE_CONFIG_DIR")
    return Path(configured) if configured else Path.cwd()


def load_config(config_dir: Path, env: Mapping[str, str] | None = None) -> Config:
    """Load and check every file under ``config_dir``; raise :class:`ConfigError` on the first problem."""
    env = os.environ if env is None else env
    config_dir = config_dir.resolve()
    policies = config_dir / "policies"
    model_path = policies / "model.conf"
    policy_path = policies / "policy.csv"
    gateway_path = policies / "gateway.yaml"
    for required in (model_path, policy_path, gateway_path):
        if not required.is_file():
            raise ConfigError(required, "file not found")
    spec_dir = config_dir / "tool_specs"
    spec_paths = sorted(spec_dir.glob("*.yaml")) + sorted(spec_dir.glob("*.yml"))

    gateway = _gateway_settings(gateway_path, config_dir, env)
    tools: dict[str, ToolSpec] = {}
    for path in spec_paths:
        spec = _tool_spec(path, env)
        if spec.name in tools:
            raise ConfigError(path, f"tool {spec.name!r} is already defined in {tools[spec.name].source.name}")
        tools[spec.name] = spec
    gateway = _pii_checked(gateway, gateway_path, tools, env)
    # Every file under policies/ counts (key files, JWKS, the test table too), not only the three read here:
    # a changed key must show as a new version in the audit trail.
    policy_files = [path for path in policies.iterdir() if path.is_file() and not path.name.startswith(".")]
    version = config_version([*policy_files, *spec_paths], config_dir)
    return Config(
        config_dir=config_dir,
        version=version,
        gateway=gateway,
        tools=tools,
        model_path=model_path,
        policy_path=policy_path,
    )


def config_version(paths: list[Path], root: Path) -> str:
    """A short hash of the files' names and bytes: the version every audit record carries."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _gateway_settings(path: Path, config_dir: Path, env: Mapping[str, str]) -> GatewaySettings:
    data = read_checked(path, schema("gateway.schema.json"), env)
    server = data.get("server", {})
    audit = data.get("audit", {})
    audit_dir = Path(audit.get("dir", "var/audit"))
    return GatewaySettings(
        server=_server_settings(server),
        api_keys=tuple(
            ApiKeyEntry(sha256=key["sha256"], subject=key["subject"], tenant=key["tenant"], roles=tuple(key["roles"]))
            for key in data.get("principals", {}).get("api_keys", [])
        ),
        loopback_anonymous=_anonymous(data.get("principals", {}).get("loopback_anonymous")),
        audit=_audit_settings(path, audit, audit_dir if audit_dir.is_absolute() else config_dir / audit_dir),
        jwt=_jwt_issuers(path, data, config_dir, env),
        rate_limits=_rate_limits(data.get("rate_limits", {})),
        pii=pii_settings(data.get("pii", {}), config_dir),
        approvals=_approval_settings(data.get("approvals", {})),
        logging=LoggingSettings(**data.get("logging", {})),
    )


def _approval_settings(data: dict[str, Any]) -> ApprovalSettings:
    """The schema admits only ApprovalSettings' fields; the dataclass alone holds their defaults."""
    settings = dict(data)
    for name in ("ttl_s", "keep_s", "notify_timeout_s"):
        if name in settings:
            settings[name] = float(settings[name])
    if "require_for_risk" in settings:
        settings["require_for_risk"] = tuple(settings["require_for_risk"])
    if not settings.get("notify_url"):  # "" is how ${VAR:-} says "no webhook"
        settings.pop("notify_url", None)
    return ApprovalSettings(**settings)


def _anonymous(entry: dict[str, Any] | None) -> AnonymousPrincipal | None:
    if entry is None:
        return None
    return AnonymousPrincipal(subject=entry["subject"], tenant=entry["tenant"], roles=tuple(entry["roles"]))


def _pii_checked(
    gateway: GatewaySettings, path: Path, tools: dict[str, ToolSpec], env: Mapping[str, str]
) -> GatewaySettings:
    """Cross-file PII checks, then the hash key (only when some action hashes)."""
    unknown = check_named_entities(gateway.pii, tools)
    if unknown is not None:
        source, parts = unknown
        where = source or path
        message = "x-pii names an entity type that no pii default, rule, recognizer or tool pii configures"
        raise ConfigError(where, message, json_path=json_path(parts), line=line_of(where, parts))
    try:
        return with_hash_key(gateway, tools, env)
    except KeyProblem as exc:
        parts = ["pii", "key_file"]
        raise ConfigError(path, str(exc), json_path="$.pii.key_file", line=line_of(path, parts)) from None


def _audit_settings(path: Path, data: dict[str, Any], directory: Path) -> AuditSettings:
    """The schema admits only AuditSettings' fields (and the old ``fsync``); the dataclass holds the defaults."""
    settings = {name: value for name, value in data.items() if name not in ("dir", "fsync")}
    if "fsync" in data:
        if "durability" in data:
            raise ConfigError(
                path,
                "audit.fsync is replaced by audit.durability; remove audit.fsync",
                json_path="$.audit.fsync",
                line=line_of(path, ["audit", "fsync"]),
            )
        # The old switch, mapped: true kept one fsync per group, false handed records to the OS.
        settings["durability"] = "fsync" if data["fsync"] else "write"
    for name in ("segment_max_age_s", "checkpoint_interval_s"):
        if name in settings:
            settings[name] = float(settings[name])
    return AuditSettings(dir=directory, **settings)


def _server_settings(data: dict[str, Any]) -> ServerSettings:
    """The schema admits only ServerSettings' fields; the dataclass alone holds their defaults."""
    settings = dict(data)
    for name in ("body_read_timeout_s", "header_read_timeout_s", "session_idle_s", "shutdown_timeout_s"):
        if name in settings:
            settings[name] = float(settings[name])
    for name in ("allowed_origins", "allowed_hosts"):
        if name in settings:
            settings[name] = tuple(settings[name])
    return ServerSettings(**settings)


def _rate_limits(data: dict[str, Any]) -> RateLimitSettings:
    # The per-principal allowances the file leaves out keep the dataclass's defaults: they are never off.
    defaults = RateLimitSettings()
    return RateLimitSettings(
        roles={role: _rate_limit(limit) for role, limit in data.get("roles", {}).items()},
        tenants={tenant: _rate_limit(limit) for tenant, limit in data.get("tenants", {}).items()},
        budget=_rate_limit(data["budget"]) if "budget" in data else defaults.budget,
        initialize=_rate_limit(data["initialize"]) if "initialize" in data else defaults.initialize,
    )


def _rate_limit(data: dict[str, Any]) -> RateLimitSpec:
    requests = data["requests"]
    return RateLimitSpec(requests=requests, per_s=float(data["per_s"]), burst=data.get("burst", requests))


def _jwt_issuers(path: Path, data: dict[str, Any], config_dir: Path, env: Mapping[str, str]) -> tuple[JwtIssuer, ...]:
    entries = data.get("principals", {}).get("jwt", [])
    try:
        return jwt_issuers(entries, config_dir, env, data.get("server", {}).get("resource_uri"))
    except IssuerProblem as exc:
        parts = ["principals", "jwt", *exc.where]
        raise ConfigError(path, exc.message, json_path=json_path(parts), line=line_of(path, parts)) from None


def _tool_spec(path: Path, env: Mapping[str, str]) -> ToolSpec:
    data = read_checked(path, schema("tool_spec.schema.json"), env)
    for key in ("input_schema", "output_schema"):
        if key in data:
            try:
                Draft202012Validator.check_schema(data[key])
            except SchemaError as exc:
                parts = [key, *exc.absolute_path]
                raise ConfigError(
                    path,
                    f"not a valid Draft 2020-12 schema: {exc.message}",
                    json_path=json_path(parts),
                    line=line_of(path, parts),
                ) from None
    try:
        header_params(data["input_schema"])  # MCP 2026-07-28 clients drop a tool whose x-mcp-header is invalid
    except ValueError as exc:
        raise ConfigError(path, str(exc), json_path="$.input_schema", line=line_of(path, ["input_schema"])) from None
    return ToolSpec(
        name=data["name"],
        title=data.get("title"),
        description=data["description"],
        input_schema=data["input_schema"],
        output_schema=data.get("output_schema"),
        backend=_backend(path, data["backend"], env),
        source=path,
        timeout_s=float(data.get("timeout_s", 10)),
        idempotent=data.get("idempotent", False),
        risk=data.get("risk", "low"),
        breaker=_breaker(data["breaker"]) if "breaker" in data else None,
        concurrency=_concurrency(data["concurrency"]) if "concurrency" in data else None,
        retry=_retry(path, data),
        rate_limit=_rate_limit(data["rate_limit"]) if "requests" in data.get("rate_limit", {}) else None,
        rate_limit_local_fallback=data.get("rate_limit", {}).get("when_store_unavailable") == "local",
        pii=_tool_pii(path, data),
        approval=data.get("approval", "policy"),
        audit_arguments=data.get("audit", {}).get("arguments", "none"),
    )


def _tool_pii(path: Path, data: dict[str, Any]) -> PiiToolOverrides | None:
    try:
        return tool_overrides(data)
    except PiiProblem as exc:
        raise ConfigError(path, exc.message, json_path=json_path(exc.where), line=line_of(path, exc.where)) from None


def _breaker(data: dict[str, Any]) -> BreakerSpec:
    settings = dict(data)  # the schema admits only its fields; the dataclass holds the defaults
    if "reset_timeout_s" in settings:
        settings["reset_timeout_s"] = float(settings["reset_timeout_s"])
    return BreakerSpec(**settings)


def _concurrency(data: dict[str, Any]) -> ConcurrencySpec:
    return ConcurrencySpec(**data)  # the schema admits only its fields; the dataclass holds the defaults


def _retry(path: Path, tool: dict[str, Any]) -> RetrySpec | None:
    if "retry" not in tool:
        return None
    if not tool.get("idempotent", False):  # nobody should believe a tool with side effects is retried
        raise ConfigError(
            path,
            "retry is only for tools marked idempotent: true; mark the tool idempotent or remove retry",
            json_path="$.retry",
            line=line_of(path, ["retry"]),
        )
    return RetrySpec(**tool["retry"])  # the schema admits only its fields; the dataclass holds the defaults


def _backend(path: Path, data: dict[str, Any], env: Mapping[str, str]) -> HttpBackendSpec | PythonBackendSpec:
    if data["type"] == "python":
        return PythonBackendSpec(callable=data["callable"])
    method = data.get("method", "POST")
    headers: list[tuple[str, str]] = []
    for name, value in data.get("headers", {}).items():
        if isinstance(value, dict):
            secret = env.get(value["env"])
            if not secret:
                raise ConfigError(
                    path,
                    f"header {name} needs environment variable {value['env']}, which is not set",
                    json_path=f"$.backend.headers.{name}",
                    line=line_of(path, ["backend", "headers", name]),
                )
            value = secret
        headers.append((name, value))
    return HttpBackendSpec(
        method=method,
        url=data["url"],
        args=data.get("args", "query" if method in ("GET", "DELETE") else "json"),
        headers=tuple(headers),
        max_response_bytes=data.get("max_response_bytes", 1_048_576),
        service=data.get("service"),
    )


__all__ = ["ConfigError", "config_version", "default_config_dir", "line_of", "load_config"]
