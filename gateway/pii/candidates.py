"""The one linear-time pass over a text that finds where the recognizers must look.

Every built-in entity holds a *candidate token* of one of four kinds, and most text holds none:

- ``@`` (an email address);
- ``:`` two colons with at most four hex digits between (every IPv6 form has such a pair);
- ``letters``: two letters and two digits (an IBAN's country and check digits), and the digits after;
- ``digits``: a cluster of digits, up to three of `` .-()/`` between each two (phone and card numbers,
  SSNs, dotted quads), of seven digits or more, or holding a dotted quad.

One RE2 automaton finds them all, in time linear in the text, on an ASCII image of it in which every
other character is ``?`` (the same offsets; no token is made of other characters): 2-5 µs per KB of
business text. A recognizer is given the windows its findings can reach from the tokens of its
kinds, digit clusters with fewer digits than it needs, or without the shape it needs (a card's twelve
digits with single spaces or dashes, a dotted quad), skipped unseen; nothing at all when the text
holds no token of its kinds.

Every finding of a built-in recognizer lies within its reach of such a token: a phone number is a run
of seven digits or more, a card twelve with single spaces or dashes, and so on. Windows are what the
recognizers scan with their own, precise expressions; ``tests/pii/test_candidates.py`` holds the
findings equal to those of scanning the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import re2

from gateway.pii import re2_spans
from gateway.pii.recognizer import Recognizer

_TOKENS = re2.compile(
    rb"@"
    rb"|:[0-9A-Fa-f]{0,4}:"
    rb"|[A-Za-z]{2}[0-9]{2}(?:[ .\-()/]{0,3}[0-9])*"
    rb"|[0-9](?:[ .\-()/]{0,3}[0-9]){6,}"
    rb"|(?:[0-9][ .\-()/]{0,3})*[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9](?:[ .\-()/]{0,3}[0-9])*"
)
_CLUSTER_SEPARATORS = b" .-()/"
#: How far past a window's reach its end may move, to the next whitespace (a match must not be cut mid-word).
_SNAP = 64
#: ASCII whitespace as ``str.isspace`` knows it, all made a space in the image windows are cut at.
_TO_SPACE = bytes.maketrans(b"\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f", b" " * 9)
_AT, _COLON, _NINE = 64, 58, 57

Windows = list[tuple[Recognizer, list[tuple[int, int]]]]


def ascii_image(text: str) -> bytes:
    """``text`` as bytes, one per character: non-ASCII characters become ``?`` (no token is made of them)."""
    return text.encode("ascii", "replace")


class CandidateScan:
    """The candidate pass for a set of windowed recognizers; built once, then only read."""

    def __init__(self, recognizers: Sequence[Recognizer]) -> None:
        self._recognizers = tuple(recognizers)
        kinds = {"@", ":", "letters", "digits"}
        for recognizer in self._recognizers:
            if not recognizer.kinds or not recognizer.kinds <= kinds:
                raise ValueError(f"{type(recognizer).__name__}: candidate kinds must be among {sorted(kinds)}")

        def of(kind: str) -> tuple[int, ...]:
            return tuple(i for i, r in enumerate(self._recognizers) if kind in r.kinds)

        self._at, self._colon, self._letters = of("@"), of(":"), of("letters")
        self._digits = tuple(
            (i, r.min_digits, None if r.cluster_shape is None else re.compile(r.cluster_shape.encode(), re.ASCII))
            for i, r in ((i, self._recognizers[i]) for i in of("digits"))
        )
        self._fewest_digits = min((needs for _, needs, _ in self._digits), default=1 << 30)

    def windows(self, text: str) -> Windows:
        """Each recognizer with a candidate in ``text`` (in the order given), and the merged spans to scan."""
        if not self._recognizers:
            return []
        image = ascii_image(text)
        spans: list[list[tuple[int, int]]] = [[] for _ in self._recognizers]
        found = False
        hit: Sequence[int]
        for start, end in re2_spans.spans(_TOKENS, image):
            first = image[start]
            if first == _AT:
                hit = self._at
            elif first == _COLON:
                hit = self._colon
            elif first > _NINE:  # a letter: the IBAN's head, then its digits as a cluster of their own
                for index in self._letters:
                    spans[index].append((start, start + 4))
                found = found or bool(self._letters)
                start += 2
                hit = self._cluster(image, start, end)
            else:
                hit = self._cluster(image, start, end)
            for index in hit:
                spans[index].append((start, end))
            found = found or bool(hit)
        if not found:
            return []
        return [
            (recognizer, _windows(recognizer, image, sorted(tokens) if len(tokens) > 1 else tokens))
            for recognizer, tokens in zip(self._recognizers, spans, strict=True)
            if tokens
        ]

    def _cluster(self, image: bytes, start: int, end: int) -> Sequence[int]:
        """The recognizers a digit cluster has enough digits (and dots) for."""
        if end - start < self._fewest_digits:
            return ()
        cluster = image[start:end]
        digits = len(cluster.translate(None, _CLUSTER_SEPARATORS))
        if digits < self._fewest_digits:
            return ()
        return [
            i
            for i, min_digits, shape in self._digits
            if digits >= min_digits and (shape is None or shape.search(cluster) is not None)
        ]


def _windows(recognizer: Recognizer, image: bytes, tokens: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merged spans around each token, as far as the recognizer reaches; ends moved to whitespace.

    A window end that falls inside a word moves on to the next (ASCII) whitespace, at most :data:`_SNAP`
    characters on, so no lookahead at the window's end sees a word cut in two. A ``token`` recognizer's
    findings hold no whitespace, so its windows start after the whitespace before the token and end at
    the whitespace after it.
    """
    before, after = recognizer.reach
    token = recognizer.token
    length = len(image)
    windows: list[tuple[int, int]] = []
    for token_start, token_end in tokens:
        start = max(0, token_start - before)
        end = min(length, token_end + after)
        if token:
            start += image[start:token_start].translate(_TO_SPACE).rfind(b" ") + 1
        if windows and start <= windows[-1][1]:
            if end <= windows[-1][1]:
                continue
            start = windows.pop()[0]
        snap_from = token_end if token else end
        space = image[snap_from : end + _SNAP].translate(_TO_SPACE).find(b" ")
        end = snap_from + space if space >= 0 else min(length, end + _SNAP)
        windows.append((start, end))
    return windows
