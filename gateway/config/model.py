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
    type: Literal["http"] = "http"


@dataclass(frozen=True, slots=True)
class PythonBackendSpec:
    """An importable async callable behind a tool, named ``module:function``."""

    callable: str
    type: Literal["python"] = "python"


BackendSpec = HttpBackendSpec | PythonBackendSpec


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


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """A principal that authenticates with an API key, stored as the key's SHA-256."""

    sha256: str
    subject: str
    tenant: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 64
    max_batch_length: int = 100
    allowed_origins: tuple[str, ...] = ()
    session_idle_s: float = 3600.0
    max_sessions: int = 10_000


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


@dataclass(frozen=True, slots=True)
class Config:
    """Everything in one config directory, with the version hash of its files."""

    config_dir: Path
    version: str
    gateway: GatewaySettings
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    model_path: Path = Path()
    policy_path: Path = Path()
