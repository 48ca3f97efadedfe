"""Authentication: who is calling. Every authenticator turns request headers into a Principal."""

from gateway.auth.apikeys import ApiKeyAuthenticator, hash_key
from gateway.auth.principal import Principal

__all__ = ["ApiKeyAuthenticator", "Principal", "hash_key"]
