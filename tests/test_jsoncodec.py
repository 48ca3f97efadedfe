"""The one JSON codec: strict in, compact out."""

from __future__ import annotations

import pytest

from gateway.jsoncodec import DecodeError, dumps, dumps_canonical, loads


@pytest.mark.parametrize("text", [b"[NaN]", b"[Infinity]", b"[1e999]", b'["\\ud800"]', b'["\xff"]', b"[" * 2000])
def test_anything_but_strict_json_is_refused(text: bytes) -> None:
    with pytest.raises(DecodeError):
        loads(text)


def test_integers_past_64_bits_are_still_written() -> None:
    assert dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_objects_that_are_not_json_are_refused_not_stringified() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_canonical_form_sorts_keys() -> None:
    assert dumps_canonical({"b": 1, "a": [2]}) == b'{"a":[2],"b":1}'
