"""Custom recognizers from ``pii.recognizers``: regular expressions with context words, and deny lists.

Every expression is compiled with RE2 (google-re2), whose automaton runs in time linear in the text
for any pattern: ``(a+)+$`` against ``"a" * 40 + "!"`` takes Python's ``re`` about 2**40 steps (days),
RE2 under 0.2 ms, and 100,000 characters under 1 ms. So no pattern a security team writes can stall
the gateway; in exchange RE2 refuses backreferences and lookaround, which the recognizer's build
reports (RecognizerProblem, with the recognizer's name) instead of failing at the first call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import re2

from gateway.config.model import PiiRecognizerSpec
from gateway.pii.findings import Finding, RecognizerProblem
from gateway.pii.re2_spans import spans
from gateway.pii.recognizer import Recognizer

_ENTITY_NAME = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
_MAX_PATTERN_CHARS = 2000
#: A compiled program bigger than this (RE2 reports it instead of compiling) is refused: 8 MiB.
_MAX_PROGRAM_BYTES = 8 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refused pattern on stderr; the problem says it instead
    options.max_mem = _MAX_PROGRAM_BYTES
    return options


def compile_linear(pattern: str, name: str) -> LinearPattern:
    """``pattern`` compiled by RE2, or RecognizerProblem saying why it cannot be (never the scanned text)."""
    if len(pattern) > _MAX_PATTERN_CHARS:
        raise RecognizerProblem(name, f"a pattern is longer than {_MAX_PATTERN_CHARS} characters")
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RecognizerProblem(
            name,
            f"pattern {pattern!r} is not supported by the linear-time engine (RE2: {detail}); "
            "backreferences and lookaround are not available",
        ) from None
    if compiled.search("") is not None:
        raise RecognizerProblem(name, f"pattern {pattern!r} matches the empty string")
    return LinearPattern(compiled, re2.compile(pattern.encode(), _options()))


class LinearPattern:
    """One RE2 program, run on the text's bytes when it is ASCII (the same offsets, and no conversion of
    them per match), on the text itself otherwise."""

    __slots__ = ("_bytes", "_text")

    def __init__(self, text: re2._Regexp, utf8: re2._Regexp) -> None:
        self._text = text
        self._bytes = utf8  # the pattern's UTF-8 bytes: UTF-8 matching, as the str pattern has

    def spans(self, text: str, pos: int, endpos: int) -> list[tuple[int, int]]:
        if text.isascii():
            return spans(self._bytes, text.encode("ascii"), pos, endpos)
        return [match.span() for match in self._text.finditer(text, pos, endpos)]


class PatternSpecRecognizer(Recognizer):
    """A spec's regular expressions, each with its score; the spec's context words lift them."""

    def __init__(self, spec: PiiRecognizerSpec) -> None:
        self.entities = frozenset({spec.entity})
        self.context = frozenset(word.lower() for word in spec.context)
        self._entity = spec.entity
        self._patterns = tuple((compile_linear(p.regex, spec.name), p.score) for p in spec.patterns)

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for pattern, score in self._patterns:
            for start, end in pattern.spans(text, pos, endpos):
                if end > start:
                    yield Finding(self._entity, start, end, score)


class DenyListRecognizer(Recognizer):
    """Whole words or phrases of a deny list, in any case: score 1.0, as Presidio's deny lists."""

    def __init__(self, spec: PiiRecognizerSpec) -> None:
        self.entities = frozenset({spec.entity})
        self._entity = spec.entity
        words = sorted({word.strip() for word in spec.deny_list if word.strip()}, key=len, reverse=True)
        if not words:
            raise RecognizerProblem(spec.name, "the deny list holds only empty entries")
        self._pattern = compile_linear("(?i)(?:" + "|".join(re2.escape(word) for word in words) + ")", spec.name)

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for start, end in self._pattern.spans(text, pos, endpos):
            # RE2 has no lookaround and an ASCII-only \b: whole-word boundaries are checked here.
            if (start and _is_word(text[start - 1])) or (end < len(text) and _is_word(text[end])):
                continue
            yield Finding(self._entity, start, end, 1.0)


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def build_custom(spec: PiiRecognizerSpec) -> list[Recognizer]:
    """The recognizers of one spec, validated: RecognizerProblem names the spec when it is unusable."""
    if not spec.name:
        raise RecognizerProblem("(unnamed)", "a recognizer needs a name")
    if not _ENTITY_NAME.fullmatch(spec.entity):
        raise RecognizerProblem(spec.name, f"entity {spec.entity!r} is not an upper-case name like EMPLOYEE_ID")
    if not spec.patterns and not spec.deny_list:
        raise RecognizerProblem(spec.name, "a recognizer needs patterns or a deny_list")
    for pattern in spec.patterns:
        if not 0.0 < pattern.score <= 1.0:
            raise RecognizerProblem(spec.name, f"score {pattern.score} is not in (0, 1]")
    built: list[Recognizer] = []
    if spec.patterns:
        built.append(PatternSpecRecognizer(spec))
    if spec.deny_list:
        built.append(DenyListRecognizer(spec))
    return built
