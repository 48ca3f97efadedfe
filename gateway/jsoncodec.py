"""JSON in and out, the same way everywhere in callgate: orjson, strict.

orjson parses a request body about ten times faster than the standard
library and refuses what JSON does not allow: NaN and Infinity, invalid UTF-8,
unpaired surrogates, numbers beyond a double's range, and nesting past 1,024
levels. Integers past 64 bits are read as floats. A value orjson cannot write
(a Python integer past 64 bits from an in-process tool) falls back to the
standard library rather than failing the call.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

DecodeError = orjson.JSONDecodeError


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises :data:`DecodeError` (a ValueError) for anything that is not strict JSON."""
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def dumps_canonical(value: Any) -> bytes:
    """Compact JSON with sorted keys: the same bytes for the same value, for digests."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return text.encode()
