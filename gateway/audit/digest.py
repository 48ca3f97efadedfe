"""The keyed digest of a call's arguments that audit records carry instead of the arguments.

An unkeyed hash of small values (a customer id, an amount, a currency) is
reversed by hashing every likely value: a table of a few million entries
recovers them from the audit file. The digest is therefore an HMAC-SHA256 under
a secret key, so equal arguments still correlate within a deployment (the same
key gives the same digest) while nobody without the key can test a guess.

The key comes from ``CALLGATE_AUDIT_DIGEST_KEY`` (hex or base64, at least 32
bytes; set the same value on every replica so digests correlate across them),
else from ``digest.key`` in the audit directory, created once with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.jsoncodec import dumps_canonical
from gateway.keyfiles import load_key

DIGEST_KEY_VARIABLE = "CALLGATE_AUDIT_DIGEST_KEY"
DIGEST_KEY_FILE = "digest.key"
#: Names the algorithm in every digest, so a trail says how its digests were made.
PREFIX = "hmac-sha256:"


class ArgumentDigest:
    """``digest(arguments)``: the same string for equal arguments under one key, nothing a guess can be tested on."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def for_trail(cls, directory: Path, env: Mapping[str, str]) -> ArgumentDigest:
        """The deployment's key from the environment, else the trail's own key file (made if absent)."""
        return cls(load_key(env, DIGEST_KEY_VARIABLE, directory / DIGEST_KEY_FILE))

    def __call__(self, arguments: Any) -> str:
        return PREFIX + hmac.new(self._key, dumps_canonical(arguments), hashlib.sha256).hexdigest()
