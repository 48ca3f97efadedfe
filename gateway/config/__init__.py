"""Configuration: the files a security team owns, loaded and checked all-or-nothing."""

from gateway.config.loader import ConfigError, default_config_dir, load_config
from gateway.config.model import (
    AuditSettings,
    BackendSpec,
    Config,
    GatewaySettings,
    HttpBackendSpec,
    PythonBackendSpec,
    ServerSettings,
    ToolSpec,
)
from gateway.config.principals import (
    AnonymousPrincipal,
    ApiKeyEntry,
    JwksSource,
    JwtAlgorithm,
    JwtClaimNames,
    JwtIssuer,
    VerificationKey,
)

__all__ = [
    "AnonymousPrincipal",
    "ApiKeyEntry",
    "AuditSettings",
    "BackendSpec",
    "Config",
    "ConfigError",
    "GatewaySettings",
    "HttpBackendSpec",
    "JwksSource",
    "JwtAlgorithm",
    "JwtClaimNames",
    "JwtIssuer",
    "PythonBackendSpec",
    "ServerSettings",
    "ToolSpec",
    "VerificationKey",
    "default_config_dir",
    "load_config",
]
