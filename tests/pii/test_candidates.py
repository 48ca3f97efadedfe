"""The candidate pass: one scan that says where recognizers look, without changing what they find."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import re2

from gateway.demo.backends import TICKET_HISTORY
from gateway.pii import re2_spans
from gateway.pii.candidates import CandidateScan, Windows
from gateway.pii.detector import CORE_ENTITIES, Detector
from gateway.pii.recognizer import Recognizer
from gateway.pii.recognizers import EmailAddress

EVAL_SET = Path(__file__).resolve().parents[2] / "gateway" / "pii" / "data" / "eval_set.jsonl"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(CORE_ENTITIES)


def whole_text(detector: Detector) -> Detector:
    """The same recognizers, each given the whole text: what windows must not change."""
    reference = Detector(CORE_ENTITIES)
    for scan in reference._scans.values():

        def everywhere(text: str, recognizers: tuple[Recognizer, ...] = scan._recognizers) -> Windows:
            return [(r, [(0, len(text))]) for r in recognizers]

        scan.windows = everywhere  # type: ignore[method-assign]
    return reference


def test_windows_find_what_scanning_the_whole_text_finds(detector: Detector) -> None:
    """Every sentence of the shipped evaluation set, and a support ticket's history, both ways."""
    texts = [json.loads(line)["text"] for line in EVAL_SET.read_text().splitlines() if line.strip()]
    texts += [message["text"] for message in TICKET_HISTORY]
    texts.append(" ".join(texts[:40]))  # dense: many tokens, windows merging
    reference = whole_text(detector)
    different = [text for text in texts if detector.find(text) != reference.find(text)]
    assert different == []


def test_text_without_a_candidate_gives_no_window(detector: Detector) -> None:
    scan = detector._scans[detector.entities]
    # Five digits, an amount, a time: no token (a date's eight digits or "14:00:00" would be one).
    clean = "Invoice 88213 of 21 Oct at 14:00, 3 items, EUR 1,250.00, ref Q3."
    assert scan.windows(clean) == []
    assert detector.find(clean) == []


def test_each_kind_of_token_opens_windows_for_its_recognizers(detector: Detector) -> None:
    scan = detector._scans[detector.entities]
    named = {
        text: sorted(type(r).__name__ for r, _ in scan.windows(text))
        for text in ("a@b", "::1", "DE89", "10.0.0.1", "415 555 0132", "4111 1111 1111 1111", "078-05-1120")
    }
    assert named == {
        "a@b": ["EmailAddress"],
        "::1": ["IpAddress"],
        "DE89": ["Iban"],
        "10.0.0.1": ["IpAddress"],  # four digits, but a dotted quad
        "415 555 0132": ["PhoneNumber"],  # too few digits for a card, not an SSN's 3-2-4 shape
        "4111 1111 1111 1111": ["CreditCard", "PhoneNumber"],
        "078-05-1120": ["PhoneNumber", "UsSsn"],
    }


def test_offsets_hold_across_characters_outside_ascii(detector: Detector) -> None:
    text = "Grüße von Zoë — schreib an zoë.müller@example.de oder zoe@example.de, Tel. +49 30 901820 ☎"
    found = [(f.entity, text[f.start : f.end]) for f in detector.find(text)]
    assert ("EMAIL_ADDRESS", "zoe@example.de") in found
    assert ("PHONE_NUMBER", "+49 30 901820") in found


def test_a_window_stops_at_the_words_around_a_token_for_whitespace_free_entities(detector: Detector) -> None:
    scan = CandidateScan([EmailAddress()])
    text = "please write to jane.doe@example.com today"
    [(_, windows)] = scan.windows(text)
    assert [text[start:end] for start, end in windows] == ["jane.doe@example.com"]


def test_a_recognizer_without_candidate_kinds_cannot_be_windowed() -> None:
    class Anywhere(EmailAddress):
        kinds = frozenset({"anything"})

    with pytest.raises(ValueError, match="candidate kinds"):
        CandidateScan([Anywhere()])


@pytest.mark.parametrize("pattern", [rb"[0-9]+", rb"x*", rb"\bEMP-[0-9]{6}\b", rb"@|:[0-9a-f]{0,4}:"])
def test_match_spans_are_those_of_the_public_finditer(pattern: bytes) -> None:
    """The direct call into the compiled program and the wrapper's finditer agree, empty matches included."""
    compiled = re2.compile(pattern)
    data = b"a 12 EMP-123456 x@y ::1 fe80::2 xx 7"
    for pos, endpos in [(0, len(data)), (3, 20), (5, 5)]:
        expected = [match.span() for match in compiled.finditer(data, pos, endpos)]
        assert re2_spans.spans(compiled, data, pos, endpos) == expected


def test_the_public_finditer_answers_where_the_program_is_not_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(re2_spans, "_UNANCHORED", None)
    compiled = re2.compile(rb"[0-9]+")
    assert re2_spans.spans(compiled, b"a 12 b 345") == [(2, 4), (7, 10)]
