"""The recognizer interface, and the context words that raise a finding's score.

A recognizer scans ``text[pos:endpos]`` and yields findings with absolute offsets and a base score;
the detector raises the score when one of the recognizer's context words stands nearby. A recognizer
that names the ``kinds`` of candidate token every one of its findings holds (``gateway.pii.candidates``)
is given only the windows around such tokens; one that names none is given the whole text.
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from collections.abc import Iterator
from itertools import repeat

from gateway.pii.findings import Finding


class Recognizer(ABC):
    """Finds one or more entity types; built once, then only read (so ``scan`` is thread-safe)."""

    #: The entity types this recognizer can report.
    entities: frozenset[str]
    #: The kinds of candidate token every finding contains or touches: "@", ":", "letters" (two letters and
    #: two digits), "digits" (a digit cluster); none: scan the whole text.
    kinds: frozenset[str] = frozenset()
    #: The fewest digits a digit cluster must hold to be one of this recognizer's candidates, and a shape
    #: (a regular expression, ASCII) it must hold besides: a cheap test that spares most scans.
    min_digits: int = 0
    cluster_shape: str | None = None
    #: How far a finding may reach before and after its candidate token, in characters.
    reach: tuple[int, int] = (96, 96)
    #: Findings never hold whitespace: windows stop at the whitespace around the token (within ``reach``).
    token: bool = False
    #: Lower-case words that, near a finding, raise its score.
    context: frozenset[str] = frozenset()
    #: Scan only what validated findings of the other recognizers left (a phone shape inside an IBAN is not one).
    yields: bool = False

    @abstractmethod
    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        """Findings inside ``text[pos:endpos]``, offsets into ``text``, scores before context."""


_CONTEXT_CHARS = 96
_WORDS_BEFORE = 7
_WORDS_AFTER = 3
PUNCTUATION = "".join(sorted(set(string.punctuation) - {"-"})) + "\u00ab\u00bb\u201c\u201d\u2018\u2019"


def has_context(text: str, start: int, end: int, context: frozenset[str]) -> bool:
    """One of ``context`` among the words before ``text[start:end]`` or just after it (Presidio looks 5 back).

    Words are split at whitespace, so an email address or a hyphenated name is one word each.
    """
    # Lower-cased before splitting: no letter's lower case is whitespace or punctuation, so the words are
    # the same, and one call instead of one per word.
    before = text[max(0, start - _CONTEXT_CHARS) : start].lower().split()[-_WORDS_BEFORE:]
    after = text[end : end + _CONTEXT_CHARS].lower().split()[:_WORDS_AFTER]
    return not context.isdisjoint(map(str.strip, before + after, repeat(PUNCTUATION)))
