"""What the detector reports: one entity found in a text, by type, offsets and score (never the text itself)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One entity in a text: ``text[start:end]`` is the value; ``score`` is the recognizer's confidence (0..1)."""

    entity: str
    start: int
    end: int
    score: float


class RecognizerProblem(Exception):
    """A custom recognizer is unusable (a bad regular expression, an empty deny list, a bad entity name...).

    Raised when a Detector is built, so a bad configuration fails at load. ``name`` is the recognizer's
    name; ``message`` says what is wrong and never includes scanned text.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"pii recognizer {name!r}: {message}")
        self.name = name
        self.message = message
