"""Presidio's defaults on the shipped evaluation set, and their cost: what callgate's detector is measured against.

    .venv/bin/python -m tests.pii.presidio_baseline [--threshold 0.5]

Presidio's AnalyzerEngine with its default recognizer registry for the six core types, on a blank English
spaCy pipeline (saved to a temporary directory, so nothing is downloaded), scored exactly as
``callgate pii test`` scores callgate's detector (gateway/pii/evaluation.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers.generic import email_recognizer as email_module

from gateway.pii.detector import CORE_ENTITIES, Detector
from gateway.pii.evaluation import evaluate, load_samples
from gateway.pii.findings import Finding
from gateway.pii.recognizers import _offline_suffixes

SET = Path(__file__).resolve().parents[2] / "gateway" / "pii" / "data" / "eval_set.jsonl"
CLEAN_KB = ("The quarterly report is attached; please review the figures before Friday's meeting. " * 13)[:1024]
ENTITY_KB = (
    "Hi team, ticket 48213: the customer jane.doe@example.com called from +44 20 7946 0958 about order "
    "ORD-2024-118273; refund to IBAN DE89 3704 0044 0532 0130 00 by 2024-05-17. Login came from 203.0.113.7. "
) * 5


def presidio_engine(directory: Path) -> AnalyzerEngine:
    # Presidio's EmailRecognizer calls tldextract.extract, which fetches the suffix list from the network
    # on first use; give its module the snapshot-only extractor callgate uses (otherwise unchanged).
    email_module.tldextract = SimpleNamespace(extract=_offline_suffixes())  # type: ignore[attr-defined]
    spacy.blank("en").to_disk(directory)
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(directory)}])
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])


def per_kb(find: object, text: str, rounds: int = 200) -> float:
    assert callable(find)
    find(text)
    start = time.perf_counter()
    for _ in range(rounds):
        find(text)
    return (time.perf_counter() - start) / rounds * 1e6 / (len(text) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        engine = presidio_engine(Path(directory))

        def presidio_find(text: str) -> list[Finding]:
            results = engine.analyze(
                text, language="en", entities=sorted(CORE_ENTITIES), score_threshold=args.threshold
            )
            return [Finding(r.entity_type, r.start, r.end, r.score) for r in results]

        report = evaluate(load_samples(SET), presidio_find, CORE_ENTITIES)
        print(f"Presidio {engine.__class__.__name__} defaults, score_threshold {args.threshold}:")
        for entity, score in report.entities.items():
            print(f"  {entity:14} precision {score.precision:.3f} recall {score.recall:.3f} F2 {score.f2:.3f}")
        print(
            f"  clean sentences flagged {report.false_positive_rate:.1%} "
            f"({report.clean_flagged}/{report.clean_sentences})"
        )
        print(
            f"  µs per KB: clean {per_kb(presidio_find, CLEAN_KB):.0f}, "
            f"with entities {per_kb(presidio_find, ENTITY_KB):.0f}"
        )
    detector = Detector(CORE_ENTITIES)
    print(f"callgate Detector µs per KB: clean {per_kb(detector.find, CLEAN_KB, 5000):.1f}, "
          f"with entities {per_kb(detector.find, ENTITY_KB, 1000):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
