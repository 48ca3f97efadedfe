"""The Detector as configured: custom recognizers, build-time refusals, NER models, threads, no network."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import spacy

from gateway.config.model import PiiPattern, PiiRecognizerSpec
from gateway.pii.detector import CORE_ENTITIES, Detector, RecognizerProblem

EMPLOYEE = PiiRecognizerSpec(
    name="employee_id", entity="EMPLOYEE_ID", patterns=(PiiPattern(r"EMP-\d{6}", 0.4),), context=("employee",)
)


def found(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in detector.find(text)]


def test_a_custom_pattern_is_found_when_its_context_lifts_it_over_the_threshold() -> None:
    detector = Detector(["EMAIL_ADDRESS"], [EMPLOYEE])
    assert detector.entities == {"EMAIL_ADDRESS", "EMPLOYEE_ID"}
    assert found(detector, "New employee EMP-123456 starts Monday") == [("EMPLOYEE_ID", "EMP-123456")]
    assert found(detector, "Ticket EMP-123456 closed") == []  # 0.4 without context: under 0.5


def test_a_deny_list_matches_whole_words_in_any_case() -> None:
    spec = PiiRecognizerSpec(name="codenames", entity="PROJECT_CODENAME", deny_list=("Bluebird", "Red Kite"))
    detector = Detector([], [spec])
    text = "Project bluebird and RED KITE, not Bluebirds or xBluebird."
    assert found(detector, text) == [("PROJECT_CODENAME", "bluebird"), ("PROJECT_CODENAME", "RED KITE")]


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    """(a+)+$ on 'a'*40+'!' takes Python's re about 2**40 steps; RE2 answers at once (run apart, bounded)."""
    script = textwrap.dedent(
        """
        from gateway.config.model import PiiPattern, PiiRecognizerSpec
        from gateway.pii.detector import Detector
        spec = PiiRecognizerSpec(name="evil", entity="EVIL", patterns=(PiiPattern("(a+)+$", 0.9),))
        detector = Detector([], [spec])
        assert detector.find("a" * 40 + "!") == []
        assert len(detector.find("a" * 100_000)) == 1
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(\d)\1", "not supported by the linear-time engine"),
        (r"(?<=EMP-)\d+", "lookaround"),
        (r"[", "not supported"),
        (r"x*", "matches the empty string"),
    ],
)
def test_an_unusable_pattern_is_refused_with_the_recognizers_name(pattern: str, message: str) -> None:
    spec = PiiRecognizerSpec(name="badone", entity="BAD", patterns=(PiiPattern(pattern),))
    with pytest.raises(RecognizerProblem, match=message) as raised:
        Detector([], [spec])
    assert raised.value.name == "badone"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (PiiRecognizerSpec(name="x", entity="lower"), "upper-case"),
        (PiiRecognizerSpec(name="x", entity="EMPTY"), "needs patterns or a deny_list"),
        (PiiRecognizerSpec(name="x", entity="BLANK", deny_list=(" ",)), "only empty entries"),
        (PiiRecognizerSpec(name="x", entity="SCORE", patterns=(PiiPattern("a", 1.5),)), "not in"),
    ],
)
def test_a_malformed_recognizer_is_refused(spec: PiiRecognizerSpec, message: str) -> None:
    with pytest.raises(RecognizerProblem, match=message):
        Detector([], [spec])


def test_an_unknown_entity_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown PII entity type.*CREDIT_CARDS"):
        Detector(["CREDIT_CARDS"])


def test_ner_types_need_an_nlp_model() -> None:
    with pytest.raises(ValueError, match=r"PERSON need.*pii\.nlp_model"):
        Detector(["PERSON"])


def test_a_missing_nlp_model_is_refused_without_downloading() -> None:
    with pytest.raises(ValueError, match=r"'xx_not_installed_sm' is not installed.*never downloads"):
        Detector(["PERSON"], nlp_model="xx_not_installed_sm")


def test_an_installed_nlp_model_finds_people_and_places(tmp_path: Path) -> None:
    """A saved pipeline stands in for a model package: an entity ruler labels what a trained NER would."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Ada Lovelace"}, {"label": "GPE", "pattern": "London"}])  # type: ignore[attr-defined]
    nlp.to_disk(tmp_path / "model")
    detector = Detector(["PERSON", "LOCATION", "EMAIL_ADDRESS"], nlp_model=str(tmp_path / "model"))
    text = "Ada Lovelace (ada@example.com) moved to London."
    assert found(detector, text) == [
        ("PERSON", "Ada Lovelace"),
        ("EMAIL_ADDRESS", "ada@example.com"),
        ("LOCATION", "London"),
    ]


def test_an_optional_presidio_type_can_be_configured() -> None:
    detector = Detector(["UK_NHS", "EMAIL_ADDRESS"])
    assert found(detector, "NHS number 401 023 2137 on the referral") == [("UK_NHS", "401 023 2137")]


def test_allow_listed_values_and_low_scores_are_not_reported() -> None:
    text = "Write to support@callgate.example.com or jane@example.com"
    detector = Detector(["EMAIL_ADDRESS"], allow_list=["Support@Callgate.example.com"])
    assert found(detector, text) == [("EMAIL_ADDRESS", "jane@example.com")]
    strict = Detector(["PHONE_NUMBER"], score_threshold=0.99)
    assert found(strict, "call (415) 555-2671") == []


def test_find_from_many_threads_gives_the_same_findings() -> None:
    detector = Detector(CORE_ENTITIES, [EMPLOYEE])
    texts = [
        f"employee EMP-{i:06d} card 4111 1111 1111 1111 phone +44 20 7946 0958 "
        f"ip 10.0.{i % 250}.1 mail u{i}@example.com"
        for i in range(200)
    ]
    expected = [detector.find(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(detector.find, texts)) == expected
    assert all(len(findings) == 5 for findings in expected)


def test_building_and_using_a_detector_opens_no_socket() -> None:
    """An audit hook in a fresh interpreter fails on any socket connect (tldextract would fetch its list)."""
    script = textwrap.dedent(
        """
        import sys
        def refuse(event, args):
            if event in ("socket.connect", "socket.getaddrinfo"):
                raise RuntimeError(f"network use: {event} {args!r}")
        sys.addaudithook(refuse)
        from gateway.pii.detector import Detector, known_entities
        from gateway.pii.recognizers_ner import NER_ENTITIES
        detector = Detector(known_entities() - NER_ENTITIES)
        text = "Mail jane@example.com, https://example.org/x, +44 20 7946 0958, 4111111111111111, 10.0.0.1"
        assert len(detector.find(text)) >= 5
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
