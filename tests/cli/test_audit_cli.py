"""``callgate audit verify`` and ``export``: one exit status per outcome, every format on standard output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.audit.chain import CHECKPOINT_KEY_VARIABLE
from gateway.cli import main
from tests.audit.trail import KEY, make_trail

WITH_KEY = {CHECKPOINT_KEY_VARIABLE: KEY.hex()}


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    make_trail(tmp_path, 200)
    return tmp_path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={CHECKPOINT_KEY_VARIABLE: "", **(env or {})})
    return result.exit_code, result.output


def last_segment(trail: Path) -> Path:
    return sorted(trail.glob("*.jsonl"))[-1]


def test_an_intact_trail_exits_0(trail: Path) -> None:
    code, output = run("audit", "verify", str(trail), env=WITH_KEY)
    # 200 calls, and the chain's start and final checkpoints.
    assert (code, output.strip().splitlines()[-1]) == (0, "202 records in 1 chain: intact")


def test_an_edited_trail_exits_1_and_names_file_and_line(trail: Path) -> None:
    segment = last_segment(trail)
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b'"subject":"support-bot"', b'"subject":"someone-else"')
    segment.write_bytes(b"".join(lines))
    code, output = run("audit", "verify", str(trail), env=WITH_KEY)
    assert code == 1
    assert f"tampered: {segment.name}:6: edited" in output


def test_a_torn_tail_exits_3(trail: Path) -> None:
    segment = last_segment(trail)
    data = segment.read_bytes()
    segment.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 30])
    code, output = run("audit", "verify", str(trail), env=WITH_KEY)
    assert code == 3 and "torn" in output


def test_without_a_key_it_exits_4(trail: Path) -> None:
    code, output = run("audit", "verify", str(trail))
    assert code == 4 and "truncation cannot be proven" in output


def test_a_directory_without_segments_exits_2(tmp_path: Path) -> None:
    assert run("audit", "verify", str(tmp_path))[0] == 2


def test_verify_json_lists_findings(trail: Path) -> None:
    code, output = run("audit", "verify", str(trail), "--json", env=WITH_KEY)
    body = json.loads(output)
    assert (code, body["status"], body["records"], body["findings"]) == (0, "intact", 202, [])


@pytest.mark.parametrize("format", ["jsonl", "csv", "ocsf", "cef"])
def test_export_writes_every_call_in_each_format(trail: Path, format: str) -> None:
    code, output = run("audit", "export", str(trail), "--format", format, "--tool", "crm.get_customer")
    assert code == 0
    lines = [line for line in output.splitlines() if line]
    assert len(lines) == 200 + (format == "csv")


def test_export_filters_by_decision_and_time(trail: Path) -> None:
    assert run("audit", "export", str(trail), "--decision", "refused") == (0, "")
    assert run("audit", "export", str(trail), "--until", "2000-01-01") == (0, "")
    code, output = run("audit", "export", str(trail), "--since", "2000-01-01", "--subject", "support-bot")
    assert code == 0 and len(output.splitlines()) == 200
    assert run("audit", "export", str(trail), "--since", "yesterday")[0] == 2
