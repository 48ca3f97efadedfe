"""``callgate pii test`` as a real process: the shipped set meets the issue's thresholds; failures exit non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SHIPPED = REPO_ROOT / "gateway" / "pii" / "data" / "eval_set.jsonl"


def callgate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway", "pii", *map(str, args)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)


def write_set(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_the_shipped_set_meets_recall_098_and_false_positives_001() -> None:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 1000
    result = callgate("test", SHIPPED, "--min-recall", "0.98", "--max-false-positive-rate", "0.01")
    assert result.returncode == 0, result.stdout + result.stderr
    for entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS"):
        assert entity in result.stdout
    assert "pii test: ok" in result.stdout


def test_a_threshold_not_met_exits_1_and_names_the_type(tmp_path: Path) -> None:
    labelled = write_set(
        tmp_path / "small.jsonl",
        [
            # An 8-digit number is a phone number only to whoever labelled it: no context, so not found.
            {"text": "Lucky digits 4285 8058 today", "spans": [{"entity": "PHONE_NUMBER", "start": 13, "end": 22}]},
            {"text": "Mail jane@example.com", "spans": [{"entity": "EMAIL_ADDRESS", "start": 5, "end": 21}]},
            {"text": "Backup server 10.0.0.1 is fine", "spans": []},  # labelled clean, but it holds an IP
        ],
    )
    result = callgate("test", labelled, "--min-recall", "0.98", "--max-false-positive-rate", "0.01")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL PHONE_NUMBER: recall 0.000 < 0.98" in result.stdout
    assert "FAIL false-positive rate 1.0000 > 0.01" in result.stdout
    passing = callgate("test", labelled, "--entity", "EMAIL_ADDRESS", "--min-recall", "0.98")
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_a_span_outside_its_text_is_reported_with_its_line(tmp_path: Path) -> None:
    labelled = write_set(
        tmp_path / "bad.jsonl",
        [{"text": "ok", "spans": []}, {"text": "short", "spans": [{"entity": "US_SSN", "start": 0, "end": 99}]}],
    )
    result = callgate("test", labelled)
    assert result.returncode == 2
    assert "bad.jsonl:2: span 0..99 is not inside the text" in result.stderr


def test_help_documents_the_file_format() -> None:
    result = callgate("test", "--help")
    assert result.returncode == 0
    assert '"spans"' in result.stdout and "character offsets" in result.stdout
