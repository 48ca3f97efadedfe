"""Scoring: covered spans are true positives, stray findings false positives, clean sentences counted apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.pii.evaluation import EvaluationFileError, Sample, Span, evaluate, load_samples
from gateway.pii.findings import Finding


def test_precision_recall_f2_and_false_positive_rate() -> None:
    samples = [
        Sample("a" * 20, (Span("EMAIL_ADDRESS", 0, 10), Span("EMAIL_ADDRESS", 12, 20)), 1),
        Sample("b" * 20, (), 2),
        Sample("c" * 20, (), 3),
    ]
    answers = {
        "a" * 20: [Finding("EMAIL_ADDRESS", 0, 11, 1.0), Finding("EMAIL_ADDRESS", 12, 15, 1.0)],  # covers; partial
        "b" * 20: [Finding("EMAIL_ADDRESS", 1, 4, 1.0)],
        "c" * 20: [],
    }
    report = evaluate(samples, answers.__getitem__, ["EMAIL_ADDRESS"])
    score = report.entities["EMAIL_ADDRESS"]
    # The partial finding overlaps an expected span: not a false positive, but the span is not found.
    assert (score.true_positives, score.false_negatives, score.false_positives) == (1, 1, 1)
    assert score.precision == 0.5 and score.recall == 0.5
    assert score.f2 == pytest.approx(0.5)
    assert report.false_positive_rate == 0.5


def test_types_not_asked_for_are_counted_as_skipped() -> None:
    samples = [Sample("x" * 10, (Span("PERSON", 0, 3),), 1)]
    report = evaluate(samples, lambda text: [], ["EMAIL_ADDRESS"])
    assert report.skipped == {"PERSON": 1}
    assert report.entities["EMAIL_ADDRESS"].recall == 1.0


def test_comments_and_blank_lines_are_skipped_and_bad_lines_named(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('# a comment\n\n{"text": "hi", "spans": []}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(EvaluationFileError, match=r"set.jsonl:4: each line must be an object"):
        load_samples(path)
    path.write_text('# only a comment\n{"text": "hi", "spans": []}\n', encoding="utf-8")
    assert [s.line for s in load_samples(path)] == [2]
