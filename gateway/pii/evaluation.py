"""Measure a detector on a labelled file: precision, recall and F2 per entity type, and false positives.

The file format (JSON Lines, UTF-8), one sentence per line::

    {"text": "Call Ann at +44 20 7946 0958.", "spans": [{"entity": "PHONE_NUMBER", "start": 12, "end": 28}]}

``start`` and ``end`` are character offsets into ``text`` (Python string indices: ``text[start:end]``
is the value). A line with ``"spans": []`` is a clean sentence. Other keys (``source``, ``note``) are
ignored. Blank lines and lines starting with ``#`` are skipped.

Scoring, per entity type, over span matches (stricter than presidio-research's token-level counts, which
credit a finding that covers part of a value): an expected span is found (true positive) when a finding
of its type covers all of it; a finding is a false positive when it overlaps no expected span of its
type. precision = TP / (TP + FP), recall = TP / (TP + FN), F2 = 5PR / (4P + R), as presidio-research's
evaluator reports them (beta = 2: recall weighs more, as a missed value leaks). The false-positive rate
is the share of clean sentences with any finding at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.pii.findings import Finding


class EvaluationFileError(Exception):
    """The labelled file cannot be used: unreadable, not JSON Lines, or a span outside its text."""


@dataclass(frozen=True, slots=True)
class Span:
    entity: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    spans: tuple[Span, ...]
    line: int


@dataclass(slots=True)
class EntityScore:
    """Counts for one entity type."""

    true_positives: int = 0
    false_negatives: int = 0
    false_positives: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0

    @property
    def f2(self) -> float:
        p, r = self.precision, self.recall
        return 5 * p * r / (4 * p + r) if p + r else 0.0


@dataclass(slots=True)
class Report:
    """The result of one evaluation."""

    entities: dict[str, EntityScore] = field(default_factory=dict)
    clean_sentences: int = 0
    clean_flagged: int = 0
    sentences: int = 0
    #: Expected spans of types the detector was not asked for, by type (not scored).
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def false_positive_rate(self) -> float:
        return self.clean_flagged / self.clean_sentences if self.clean_sentences else 0.0


def load_samples(path: Path) -> list[Sample]:
    """The sentences of a labelled file; EvaluationFileError names the line that is wrong."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationFileError(f"{path}: cannot read: {exc}") from None
    samples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            samples.append(_sample(json.loads(line), number))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvaluationFileError(f"{path}:{number}: {exc}") from None
    if not samples:
        raise EvaluationFileError(f"{path}: no sentences")
    return samples


def _sample(row: object, line: int) -> Sample:
    if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("spans"), list):
        raise ValueError('each line must be an object with "text" (a string) and "spans" (a list)')
    text: str = row["text"]
    spans = []
    for item in row["spans"]:
        span = Span(str(item["entity"]), int(item["start"]), int(item["end"]))
        if not 0 <= span.start < span.end <= len(text):
            raise ValueError(f"span {span.start}..{span.end} is not inside the text ({len(text)} characters)")
        spans.append(span)
    return Sample(text, tuple(spans), line)


def evaluate(samples: Iterable[Sample], find: Callable[[str], list[Finding]], entities: Collection[str]) -> Report:
    """Score ``find`` on ``samples`` for the types in ``entities``."""
    report = Report(entities={entity: EntityScore() for entity in sorted(entities)})
    for sample in samples:
        report.sentences += 1
        findings = [f for f in find(sample.text) if f.entity in report.entities]
        expected = [s for s in sample.spans if s.entity in report.entities]
        for span in sample.spans:
            if span.entity not in report.entities:
                report.skipped[span.entity] = report.skipped.get(span.entity, 0) + 1
        if not sample.spans:
            report.clean_sentences += 1
            report.clean_flagged += bool(findings)
        for span in expected:
            score = report.entities[span.entity]
            if any(f.entity == span.entity and f.start <= span.start and f.end >= span.end for f in findings):
                score.true_positives += 1
            else:
                score.false_negatives += 1
        for finding in findings:
            if not any(
                s.entity == finding.entity and finding.start < s.end and finding.end > s.start for s in expected
            ):
                report.entities[finding.entity].false_positives += 1
    return report
