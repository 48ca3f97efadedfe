"""The audit writer: durable before release, many records per commit, fail closed."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from gateway.audit import AuditWriter
from gateway.errors import AuditUnavailable


async def test_every_record_is_on_disk_when_write_returns(tmp_path: Path) -> None:
    writer = AuditWriter(tmp_path)
    await writer.start()
    try:
        await asyncio.gather(*(writer.write({"n": n}) for n in range(500)))
        assert writer.path is not None
        lines = writer.path.read_text().splitlines()
        assert sorted(json.loads(line)["n"] for line in lines) == list(range(500))
    finally:
        await writer.close()


async def test_write_fails_closed_when_the_segment_cannot_be_written(tmp_path: Path) -> None:
    writer = AuditWriter(tmp_path)
    await writer.start()
    try:
        assert writer._file is not None
        os.close(writer._file.fileno())  # the disk goes away under the writer
        with pytest.raises(AuditUnavailable):
            await writer.write({"n": 1})
    finally:
        await writer.close()


async def test_write_after_close_is_refused(tmp_path: Path) -> None:
    writer = AuditWriter(tmp_path)
    await writer.start()
    await writer.close()
    with pytest.raises(AuditUnavailable):
        await writer.write({"n": 1})


async def test_unwritable_directory_fails_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        await AuditWriter(blocker / "audit").start()
