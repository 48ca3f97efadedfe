"""Secret keys callgate derives pseudonyms and digests with: from the environment, or a key file it creates.

A deployment sets the variable (the same value on every replica, so equal values
correlate across them); without it, callgate keeps a random key in a file of its
own, created once with mode 0600 and read again on every start, so digests stay
stable across restarts of one installation. Keys never appear in logs or errors.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

#: HMAC-SHA256 keys shorter than the hash output weaken it (RFC 2104 section 3).
MIN_KEY_BYTES = 32


class KeyProblem(Exception):
    """A configured key is unusable; the message names the variable or file, never the key."""


def load_key(env: Mapping[str, str], variable: str, path: Path) -> bytes:
    """The key in ``$variable`` (base64 or hex of at least 32 bytes), else the one in ``path``, made if absent."""
    value = env.get(variable)
    if value:
        return _decode(value.strip(), f"environment variable {variable}")
    try:
        return _decode(path.read_text(encoding="ascii").strip(), str(path))
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyProblem(f"cannot read key file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return _create(path)


def _create(path: Path) -> bytes:
    key = secrets.token_bytes(MIN_KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once agree on one key; the loser reads the winner's.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _decode(path.read_text(encoding="ascii").strip(), str(path))
    except OSError as exc:
        raise KeyProblem(f"cannot create key file {path}: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(base64.b64encode(key).decode() + "\n")
        file.flush()
        os.fsync(file.fileno())
    return key


def _decode(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text) if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text) else b""
        if not key:
            key = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise KeyProblem(f"the key in {where} is neither hex nor base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyProblem(f"the key in {where} is shorter than {MIN_KEY_BYTES} bytes")
    return key
