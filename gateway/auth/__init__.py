"""Authentication: who is calling. Every authenticator turns request headers into a Principal."""

from gateway.auth.apikeys import ApiKeyAuthenticator, hash_key
from gateway.auth.authenticator import Authenticator, build_authenticator
from gateway.auth.jwt import JwtAuthenticator
from gateway.auth.principal import Principal
from gateway.errors import Challenged

__all__ = [
    "ApiKeyAuthenticator",
    "Authenticator",
    "Challenged",
    "JwtAuthenticator",
    "Principal",
    "build_authenticator",
    "hash_key",
]
