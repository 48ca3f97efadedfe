"""Tamper drills on a trail of more than 10,000 records: each change is detected and located by file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.audit.segments import Segment, chains
from gateway.audit.verify import Report, verify
from tests.audit.trail import KEY, make_trail

RECORDS = 6000  # per chain; two chains (a restart): over 12,000 records in about 20 segments


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pristine")
    for _ in range(2):
        make_trail(directory, RECORDS, segment_max_bytes=256 * 1024, checkpoint_every=1000)
    return directory


@pytest.fixture
def trail(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "trail"
    shutil.copytree(pristine, copy)
    return copy


def segments(trail: Path) -> tuple[list[Segment], list[Segment]]:
    first, second = (found for _, found in sorted(chains(trail).items()))
    return first, second


def lines_of(segment: Segment) -> list[bytes]:
    return segment.path.read_bytes().splitlines(keepends=True)


def rewrite(segment: Segment, lines: list[bytes]) -> None:
    segment.path.write_bytes(b"".join(lines))


def only_finding(report: Report) -> tuple[str, str, int | None]:
    assert report.status == "tampered", [str(f) for f in report.findings]
    finding = report.findings[0]
    return finding.kind, finding.file, finding.line


def test_an_untouched_trail_verifies(trail: Path) -> None:
    report = verify(trail, KEY)
    assert (report.status, report.exit_status, report.findings) == ("intact", 0, [])
    assert report.records > 12_000 and len(report.chains) == 2
    assert sum(chain.segments for chain in report.chains) > 10


def test_without_the_key_truncation_cannot_be_proven(trail: Path) -> None:
    report = verify(trail, None)
    assert (report.status, report.exit_status) == ("unproven", 4)
    assert all(finding.kind == "unproven" for finding in report.findings)


def test_one_changed_byte_is_found_at_its_line(trail: Path) -> None:
    segment = segments(trail)[0][2]
    lines = lines_of(segment)
    assert b'"tenant":"acme"' in lines[100]
    lines[100] = lines[100].replace(b'"tenant":"acme"', b'"tenant":"acmf"')
    rewrite(segment, lines)
    assert only_finding(verify(trail, KEY)) == ("tampered", segment.path.name, 101)


def test_a_byte_that_breaks_the_json_is_found_at_its_line(trail: Path) -> None:
    segment = segments(trail)[1][1]
    lines = lines_of(segment)
    lines[7] = lines[7][:20] + b"\x00" + lines[7][21:]
    rewrite(segment, lines)
    assert only_finding(verify(trail, KEY)) == ("tampered", segment.path.name, 8)


def test_an_edited_link_is_blamed_on_its_own_line(trail: Path) -> None:
    segment = segments(trail)[0][1]
    lines = lines_of(segment)
    start = lines[50].index(b'"prev":"sha256:') + len(b'"prev":"sha256:')
    flipped = b"1" if lines[50][start : start + 1] != b"1" else b"2"
    lines[50] = lines[50][:start] + flipped + lines[50][start + 1 :]
    rewrite(segment, lines)
    assert only_finding(verify(trail, KEY)) == ("tampered", segment.path.name, 51)


def test_a_deleted_line_is_found_where_it_was(trail: Path) -> None:
    segment = segments(trail)[0][3]
    lines = lines_of(segment)
    del lines[200]
    rewrite(segment, lines)
    kind, file, line = only_finding(verify(trail, KEY))
    assert (kind, file, line) == ("tampered", segment.path.name, 201)
    assert "missing" in verify(trail, KEY).findings[0].problem


def test_two_swapped_lines_are_found(trail: Path) -> None:
    segment = segments(trail)[1][2]
    lines = lines_of(segment)
    lines[10], lines[11] = lines[11], lines[10]
    rewrite(segment, lines)
    report = verify(trail, KEY)
    assert only_finding(report) == ("tampered", segment.path.name, 11)
    assert "reordered" in report.findings[0].problem


def test_a_removed_segment_is_found(trail: Path) -> None:
    first, _ = segments(trail)
    first[2].path.unlink()
    report = verify(trail, KEY)
    assert only_finding(report) == ("tampered", first[3].path.name, 1)
    assert "segment 2" in report.findings[0].problem


def test_a_removed_first_segment_is_found(trail: Path) -> None:
    _, second = segments(trail)
    second[0].path.unlink()
    kind, file, line = only_finding(verify(trail, KEY))
    assert (kind, file, line) == ("tampered", second[1].path.name, 1)


def test_a_removed_last_segment_is_found_by_the_chain_that_followed(trail: Path) -> None:
    first, _second = segments(trail)
    first[-1].path.unlink()
    report = verify(trail, KEY)
    assert report.status == "tampered"
    assert any(finding.file == first[-2].path.name and "removed" in finding.problem for finding in report.findings)


def test_a_removed_chain_is_found_by_the_chain_that_followed(trail: Path) -> None:
    first, second = segments(trail)
    for segment in first:
        segment.path.unlink()
    report = verify(trail, KEY)
    assert only_finding(report) == ("tampered", second[0].path.name, 1)
    assert "missing" in report.findings[0].problem


@pytest.mark.parametrize("cut", [1, 10, 700])
def test_a_cut_tail_is_found_with_the_key(trail: Path, cut: int) -> None:
    _, second = segments(trail)
    left = cut
    while left >= len(lines_of(second[-1])):  # the last lines may span segments: remove whole ones first
        left -= len(lines_of(second[-1]))
        second.pop().path.unlink()
    lines = lines_of(second[-1])
    rewrite(second[-1], lines[: len(lines) - left])
    report = verify(trail, KEY)
    assert only_finding(report) == ("tampered", second[-1].path.name, len(lines) - left)
    assert "final checkpoint" in report.findings[0].problem
    assert verify(trail, None).status == "unproven"  # without the key it cannot be proven


def test_a_forged_final_checkpoint_is_found(trail: Path) -> None:
    _, second = segments(trail)
    lines = lines_of(second[-1])
    lines[-1] = lines[-1].replace(b'"signed":true', b'"signed":false')
    rewrite(second[-1], lines)
    assert only_finding(verify(trail, KEY)) == ("tampered", second[-1].path.name, len(lines))


def test_a_torn_last_line_is_a_torn_tail_not_tampering(trail: Path) -> None:
    _, second = segments(trail)
    lines = lines_of(second[-1])
    # A crash mid-write: the final checkpoint half on disk. The record before it is the chain's end.
    rewrite(second[-1], [*lines[:-1], lines[-1][:40]])
    report = verify(trail, KEY)
    assert (report.status, report.exit_status) == ("torn", 3)
    assert [finding.kind for finding in report.findings] == ["torn"]


def test_a_trail_signed_with_another_key_does_not_verify(trail: Path) -> None:
    report = verify(trail, bytes(32))
    assert report.status == "tampered"
    assert "signature" in report.findings[0].problem
