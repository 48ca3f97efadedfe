"""The canonical JSON of an audit record (RFC 8785, JCS), and the hash that chains records together.

RFC 8785 is implemented by the maintained ``rfc8785`` package, which is the
definition used here. It is pure Python and costs about 100 µs for a typical
record, a quarter of everything else callgate spends on a call, so a record
whose canonical form orjson writes byte for byte the same takes orjson's path
(about 1 µs). That holds for JSON without floating-point numbers, without
integers beyond ±2^53 and without object keys that hold characters from
U+E000 up (where RFC 8785's UTF-16 key order and orjson's code point order
part). Every other value goes through ``rfc8785``. ``tests/audit/test_canonical.py``
checks that both paths agree on every value the fast one takes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import rfc8785

#: The ``prev`` of the very first record in a directory: no record came before it.
GENESIS = "sha256:" + "0" * 64
_SAFE_INTEGER = 2**53 - 1
_ORDER_SAFE_BELOW = "\ue000"


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of ``value``, as UTF-8 bytes."""
    if _fast_path_agrees(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(value)


def record_hash(record: Any) -> str:
    """``sha256:<hex>`` of a record's canonical JSON: what the next record carries as ``prev``."""
    return digest_of(canonical(record))


def digest_of(canonical_bytes: bytes) -> str:
    return "sha256:" + hashlib.sha256(canonical_bytes).hexdigest()


def _fast_path_agrees(value: Any) -> bool:
    """Whether orjson's sorted output is exactly RFC 8785's for ``value``."""
    if type(value) is dict:  # a record: most of its values are strings, checked here without a call each
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and max(key) >= _ORDER_SAFE_BELOW):
                return False
            if type(item) is not str and item is not None and not _agrees(item):
                return False
        return True
    return _agrees(value)


def _agrees(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INTEGER <= value <= _SAFE_INTEGER)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and max(key) >= _ORDER_SAFE_BELOW):
                return False
            if not _agrees(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_agrees(item) for item in value)
    return False  # floats, and anything orjson and RFC 8785 might write differently
