"""The canonical JSON records are hashed over is RFC 8785's, whichever path writes it."""

from __future__ import annotations

import random

import orjson
import pytest
import rfc8785

from gateway.audit.canonical import _fast_path_agrees, canonical

ALPHABET = [chr(code) for code in range(0x80)] + ["é", "\u2028", "\ufeff", "\ud7ff", "\ue000", "\uffff", "😀", "\x7f"]


def random_value(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(8 if depth < 3 else 5)
    text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(10)))
    if choice == 0:
        return text
    if choice == 1:
        return rng.choice([0, -1, 2**53 - 1, -(2**53) + 1, 2**53, rng.randrange(-(10**9), 10**9)])
    if choice == 2:
        return rng.choice([True, False, None])
    if choice == 3:
        return rng.choice([0.5, 1.0, 1e21, 1e-7, -0.0, 123.456, 5e-324])
    if choice == 4:
        return text
    if choice in (5, 6):
        return {"".join(rng.choice(ALPHABET) for _ in range(4)): random_value(rng, depth + 1) for _ in range(3)}
    return [random_value(rng, depth + 1) for _ in range(3)]


def test_both_paths_agree_on_thousands_of_random_values() -> None:
    rng = random.Random(8785)
    fast = 0
    for _ in range(5000):
        value = random_value(rng)
        try:
            expected = rfc8785.dumps(value)
        except rfc8785.IntegerDomainError:  # beyond what RFC 8785 can write: refused on both paths
            with pytest.raises(rfc8785.IntegerDomainError):
                canonical(value)
            continue
        assert canonical(value) == expected
        fast += _fast_path_agrees(value)
    assert fast > 1000, "the fast path should take most values"


@pytest.mark.parametrize(
    "value",
    [{"latency": 1.0}, {"\U0001f600": 1, "\ue000": 2}, [-0.0]],
    ids=["whole-float", "key-order-parts", "negative-zero"],
)
def test_values_where_orjson_differs_take_the_standard_path(value: object) -> None:
    assert not _fast_path_agrees(value)
    assert canonical(value) == rfc8785.dumps(value)
    assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) != rfc8785.dumps(value)
