"""The spans of an RE2 expression's matches in bytes, without the Python wrapper's work per match.

``re2.compile(...).finditer`` runs a generator that, per match, converts offsets, builds a Python
match object and checks its arguments again: 10-15 µs of Python per short text, more than RE2's own
scan of a kilobyte. The detector asks for every text's candidates and every custom recognizer's
matches, so it calls the compiled program underneath directly, through the same ``Match`` call
the wrapper makes. Where a google-re2 release lays the wrapper out otherwise, the public
``finditer`` answers instead (``tests/pii/test_candidates.py`` runs both).
"""

from __future__ import annotations

from typing import Any

import re2

_UNANCHORED: Any = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)


def spans(pattern: re2._Regexp, data: bytes, pos: int = 0, endpos: int | None = None) -> list[tuple[int, int]]:
    """The (start, end) of each match of ``pattern`` (compiled from bytes) in ``data[pos:endpos]``, in order."""
    end = len(data) if endpos is None else min(endpos, len(data))
    program = getattr(pattern, "_regexp", None)
    if program is None or _UNANCHORED is None:
        return [match.span() for match in pattern.finditer(data, pos, end)]
    found: list[tuple[int, int]] = []
    match, anchor = program.Match, _UNANCHORED
    while pos <= end:
        span = match(anchor, data, pos, end)[0]
        if span[0] < 0:
            break
        found.append(span)
        # An empty match moves on one byte, as finditer does.
        pos = span[1] + 1 if span[1] == span[0] else span[1]
    return found
