"""The verification keys of one JWT issuer, and how a JWKS stays current without blocking a call.

Static keys (a shared secret, a PEM file) never change. A JWKS is fetched
again when a token names a ``kid`` callgate has not seen (a key rotation) and
when the keys in hand are older than ``max_age_s``, at most once per
``min_refresh_s`` however many unknown kids arrive, so forged kids cannot turn
the gateway into a load generator against the identity provider.

Authentication runs synchronously on the request path, so a JWKS URL is never
fetched there: the first fetch happens when the authenticator is built (at
startup, or on the reload thread), later ones on a thread of their own. The
token that named an unknown kid is refused; tokens after the fetch lands are
accepted (identity providers publish a key before they sign with it, so the
periodic refetch usually has it already). A JWKS file is small and local: it is
read again on the spot, and the token that asked is checked against the new keys.
A failed fetch keeps the keys in hand.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from gateway.config import JwksSource, JwtIssuer, VerificationKey
from gateway.config.jwt_issuers import parse_jwks

log = logging.getLogger("callgate.auth.jwks")

FETCH_TIMEOUT_S = 5.0
MAX_JWKS_BYTES = 1_048_576

Clock = Callable[[], float]


class KeySet:
    """Finds the key for a token's ``kid`` and ``alg``; only keys of the issuer's pinned algorithms are held."""

    def __init__(self, issuer: JwtIssuer, clock: Clock = time.monotonic) -> None:
        self._algorithms = frozenset(issuer.algorithms)
        self._source = issuer.jwks
        self._clock = clock
        self._lock = threading.Lock()
        self._fetching = False
        self._last_attempt = -math.inf
        self._loaded_at = clock()
        self._index = self._indexed(issuer.keys)
        #: Goes up whenever the keys are replaced, so that tokens verified with the old ones are checked again.
        self.generation = 0
        if self._source is not None and self._source.is_url:
            self._last_attempt = clock()
            self._fetching = True
            self._fetch(self._source)

    def key_for(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        source = self._source
        if source is None:
            return self._index.get((None, algorithm))  # one static key: a kid in the token changes nothing
        key = self._index.get((kid, algorithm))
        unknown = key is None and kid is not None
        if unknown or self._clock() - self._loaded_at >= source.max_age_s:
            self._refresh(source)
            if unknown:
                key = self._index.get((kid, algorithm))  # a file has been read again already; a URL not yet
        return key

    def _refresh(self, source: JwksSource) -> None:
        """Fetch again, unless a fetch is under way or the last one started less than ``min_refresh_s`` ago."""
        with self._lock:
            now = self._clock()
            if self._fetching or now - self._last_attempt < source.min_refresh_s:
                return
            self._fetching = True
            self._last_attempt = now
        if source.is_url:
            threading.Thread(target=self._fetch, args=(source,), name="callgate-jwks", daemon=True).start()
        else:
            self._fetch(source)

    def _fetch(self, source: JwksSource) -> None:
        try:
            data = _download(source.location) if source.is_url else Path(source.location).read_bytes()
            keys = [key for key in parse_jwks(data) if key.algorithm in self._algorithms]
            if not keys:
                raise ValueError("it holds no key for the issuer's algorithms")
        except Exception as exc:  # whatever went wrong, the keys in hand stay in force
            log.warning("JWKS from %s not refreshed, keeping the keys in hand: %s", source.location, exc)
        else:
            self._index = self._indexed(keys)
            self.generation += 1  # after the swap: a check that saw the old keys is then seen as stale
            self._loaded_at = self._clock()
            log.info("JWKS from %s: %d keys", source.location, len(keys))
        finally:
            self._fetching = False

    def _indexed(self, keys: Iterable[VerificationKey]) -> dict[tuple[str | None, str], VerificationKey]:
        """Keys by (kid, algorithm); by (None, algorithm) too when that algorithm has exactly one key."""
        usable = [key for key in keys if key.algorithm in self._algorithms]
        index: dict[tuple[str | None, str], VerificationKey] = {}
        for key in usable:
            if key.kid is not None:
                index[(key.kid, key.algorithm)] = key
        for algorithm in self._algorithms:
            only = [key for key in usable if key.algorithm == algorithm]
            if len(only) == 1:
                index[(None, algorithm)] = only[0]
        return index


def _download(url: str) -> bytes:
    with (
        httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as client,
        client.stream("GET", url, headers={"Accept": "application/jwk-set+json, application/json"}) as response,
    ):
        response.raise_for_status()
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
        return bytes(body)
