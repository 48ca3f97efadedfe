"""API keys: only their SHA-256 hashes are configured; a presented key is hashed and looked up."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from gateway.auth.principal import Principal
from gateway.config import ApiKeyEntry
from gateway.errors import Unauthenticated

_MAX_KEY_LENGTH = 256
_BUCKET = 4


def hash_key(key: str) -> str:
    """The lower-case hex SHA-256 of ``key``, as ``gateway.yaml`` stores it."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyAuthenticator:
    """Accepts ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

    def __init__(self, entries: Iterable[ApiKeyEntry]) -> None:
        # Candidates are bucketed by a short digest prefix; the full digest is then
        # compared in constant time, so no timing reveals how much of it matched.
        self._buckets: dict[str, list[tuple[bytes, Principal]]] = {}
        for entry in entries:
            principal = Principal(entry.subject, entry.tenant, entry.roles, method="api_key")
            bucket = self._buckets.setdefault(entry.sha256[:_BUCKET], [])
            bucket.append((bytes.fromhex(entry.sha256), principal))

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        key = _presented_key(headers)
        if key is None:
            raise Unauthenticated(detail="credential.missing")
        digest = hashlib.sha256(key.encode()).digest()
        for stored, principal in self._buckets.get(digest.hex()[:_BUCKET], ()):
            if hmac.compare_digest(stored, digest):
                return principal
        raise Unauthenticated("Unknown credential", detail="api_key.unknown")


def _presented_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key is None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        key = value
    key = key.strip()
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isascii():
        return None
    return key
