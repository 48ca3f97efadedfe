"""The audit writer: written before release, many records per commit, chained, rotated, fail closed, recovers."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path

import pytest

from gateway.audit import AuditWriter
from gateway.audit.canonical import GENESIS, record_hash
from gateway.audit.digest import ArgumentDigest
from gateway.audit.segments import chains
from gateway.audit.verify import verify
from gateway.errors import AuditUnavailable
from tests.audit.checks import schema_problems, trail_records
from tests.audit.trail import KEY, call_record, write_trail, writer


@pytest.fixture(params=["write", "fsync"])
def durability(request: pytest.FixtureRequest) -> str:
    """Every test on both paths: with fsync a writer thread commits, with write the event loop does."""
    value: str = request.param
    return value


async def test_every_record_is_on_disk_when_write_returns(tmp_path: Path, durability: str) -> None:
    audit = writer(tmp_path, durability=durability)
    await audit.start()
    try:
        await asyncio.gather(*(audit.write(call_record(n)) for n in range(500)))
        assert audit.path is not None
        lines = [json.loads(line) for line in audit.path.read_text().splitlines()]
        calls = [line for line in lines if line["event"] == "tools/call"]
        assert sorted(int(r["request_id"].split("-")[1]) for r in calls) == list(range(500))
    finally:
        await audit.close()


async def test_each_record_carries_the_hash_of_the_one_before(tmp_path: Path, durability: str) -> None:
    await write_trail(tmp_path, 50, durability=durability)
    records = trail_records(tmp_path)
    assert records[0]["prev"] == GENESIS and records[0]["checkpoint"]["reason"] == "start"
    for before, after in itertools.pairwise(records):
        assert after["seq"] == before["seq"] + 1
        assert after["prev"] == record_hash(before)
    assert records[-1]["checkpoint"] == {**records[-1]["checkpoint"], "reason": "shutdown", "final": True}
    assert not schema_problems(records)


async def test_checkpoints_come_every_n_records_and_are_signed(tmp_path: Path, durability: str) -> None:
    await write_trail(tmp_path, 1000, durability=durability, checkpoint_every=100)
    checkpoints = [r for r in trail_records(tmp_path) if r["event"] == "audit/checkpoint"]
    reasons = [c["checkpoint"]["reason"] for c in checkpoints]
    assert reasons[0] == "start" and reasons[-1] == "shutdown"
    assert reasons.count("count") == 10
    assert all(c["mac"].startswith("hmac-sha256:") for c in checkpoints)


async def test_a_checkpoint_comes_after_an_interval_while_idle(tmp_path: Path, durability: str) -> None:
    audit = writer(tmp_path, durability=durability, checkpoint_interval_s=0.05)
    await audit.start()
    try:
        await audit.write(call_record(1))
        for _ in range(200):
            if any(r["checkpoint"]["reason"] == "interval" for r in trail_records(tmp_path) if "checkpoint" in r):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("no interval checkpoint was written")
    finally:
        await audit.close()


async def test_segments_rotate_by_size_and_the_chain_runs_across_them(tmp_path: Path, durability: str) -> None:
    await write_trail(tmp_path, 2000, durability=durability, segment_max_bytes=64 * 1024)
    (segments,) = chains(tmp_path).values()
    assert len(segments) >= 4  # a segment ends at the first group commit past the size
    assert [segment.number for segment in segments] == list(range(len(segments)))
    assert all(segment.path.stat().st_size < 64 * 1024 + 600 * 500 for segment in segments)
    assert verify(tmp_path, KEY).status == "intact"


async def test_segments_rotate_by_age(tmp_path: Path, durability: str) -> None:
    audit = writer(tmp_path, durability=durability, segment_max_age_s=0.01)
    await audit.start()
    try:
        for n in range(3):
            await audit.write(call_record(n))
            await asyncio.sleep(0.03)
    finally:
        await audit.close()
    (segments,) = chains(tmp_path).values()
    assert len(segments) >= 3
    assert verify(tmp_path, KEY).status == "intact"


async def test_a_restart_links_its_chain_to_where_the_last_one_ended(tmp_path: Path, durability: str) -> None:
    first = await write_trail(tmp_path, 30, durability=durability)
    second = await write_trail(tmp_path, 30, durability=durability)
    records = trail_records(tmp_path)
    first_end = [r for r in records if r["chain"] == first.chain_id][-1]
    start = next(r for r in records if r["chain"] == second.chain_id)
    assert start["checkpoint"]["links"] == [
        {"chain": first.chain_id, "seq": first_end["seq"], "hash": record_hash(first_end), "torn": False}
    ]
    assert start["prev"] == record_hash(first_end)
    assert verify(tmp_path, KEY).status == "intact"


async def test_two_workers_each_write_their_own_chain(tmp_path: Path, durability: str) -> None:
    """``--workers 2``: two writers on one directory at once, each its own chain; the trail verifies."""
    one, two = writer(tmp_path, durability=durability), writer(tmp_path, durability=durability)
    await one.start()
    await two.start()
    try:
        await asyncio.gather(*(audit.write(call_record(n)) for n in range(200) for audit in (one, two)))
    finally:
        await one.close()
        await two.close()
    assert len(chains(tmp_path)) == 2
    report = verify(tmp_path, KEY)
    assert (report.status, report.records) == ("intact", 400 + 2 * 2)


async def test_write_fails_closed_when_the_segment_cannot_be_written_and_recovers(
    tmp_path: Path, durability: str
) -> None:
    failures: list[int] = []
    audit = writer(tmp_path, durability=durability, on_failure=failures.append)
    await audit.start()
    try:
        await audit.write(call_record(0))
        assert audit._fd is not None
        os.close(audit._fd)  # the disk goes away under the writer
        with pytest.raises(AuditUnavailable):
            await audit.write(call_record(1))
        assert audit.problem is not None and failures == [1]
        await audit.write(call_record(2))  # a new segment: writing works again
        assert audit.problem is None
    finally:
        await audit.close()
    records = trail_records(tmp_path)
    assert [r["checkpoint"]["reason"] for r in records if "checkpoint" in r] == ["start", "recovered", "shutdown"]
    assert [r["request_id"] for r in records if r["event"] == "tools/call"] == ["req-0", "req-2"]
    assert verify(tmp_path, KEY).status == "intact"


async def test_a_removed_directory_refuses_until_it_is_back(tmp_path: Path, durability: str) -> None:
    directory = tmp_path / "audit"
    audit = writer(directory, durability=durability)
    await audit.start()
    try:
        await audit.write(call_record(0))
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()
        for n in (1, 2):  # the first lands in a removed file (noticed); the second finds no directory
            with pytest.raises(AuditUnavailable):
                await audit.write(call_record(n))
        assert audit.problem is not None
        directory.mkdir()
        for _ in range(100):  # the writer tries again by itself, without a record waiting
            if audit.problem is None:
                break
            await asyncio.sleep(0.05)
        assert audit.problem is None
        await audit.write(call_record(3))
    finally:
        await audit.close()
    assert [r["request_id"] for r in trail_records(directory) if r["event"] == "tools/call"] == ["req-3"]


async def test_write_after_close_is_refused(tmp_path: Path, durability: str) -> None:
    audit = writer(tmp_path, durability=durability)
    await audit.start()
    await audit.close()
    with pytest.raises(AuditUnavailable):
        await audit.write(call_record(1))


async def test_a_record_that_cannot_be_serialised_is_refused_and_the_writer_goes_on(
    tmp_path: Path, durability: str
) -> None:
    audit = writer(tmp_path, durability=durability)
    await audit.start()
    try:
        with pytest.raises(AuditUnavailable):
            await audit.write(call_record(1, notes={"pii": [{"entity": "X", "count": object()}]}))
        await audit.write(call_record(2))
    finally:
        await audit.close()
    assert verify(tmp_path, KEY).status == "intact"


async def test_unwritable_directory_fails_at_start(tmp_path: Path, durability: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        await AuditWriter(blocker / "audit", digest=ArgumentDigest(bytes(32))).start()
