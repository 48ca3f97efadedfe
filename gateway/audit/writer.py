"""Group-committed JSON Lines audit segments.

Callers hand a record to :meth:`AuditWriter.write` and wait until it is
durable. One background task takes every record queued so far, writes them
with one ``write`` and one ``fsync`` in a worker thread, and then releases all
their callers: many records per fsync, and the event loop never blocks on disk.
If the write fails, every waiting caller gets :class:`AuditUnavailable`, so the
calls they belong to are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from gateway.errors import AuditUnavailable

log = logging.getLogger("callgate.audit")

_Pending = tuple[bytes, asyncio.Future[None]]


class AuditWriter:
    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self._fsync = fsync
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._file: IO[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self.path: Path | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Open a new segment; raises OSError when the directory cannot be written (startup fails)."""
        self._file = await asyncio.to_thread(self._open_segment)
        self._task = asyncio.create_task(self._commit_loop(), name="callgate-audit")

    async def write(self, record: dict[str, Any]) -> None:
        """Return once ``record`` is durable; raise :class:`AuditUnavailable` if it cannot be."""
        if not self.running:
            raise AuditUnavailable()
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((line, done))
        await done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._fail_waiting()
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None

    async def _commit_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.to_thread(self._append, b"".join(line for line, _ in batch))
            except OSError:
                log.exception("audit segment write failed; refusing calls until it succeeds")
                for _, done in batch:
                    if not done.done():
                        done.set_exception(AuditUnavailable())
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _append(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def _open_segment(self) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.path = self.directory / f"audit-{stamp}-{os.getpid()}.jsonl"
        return open(self.path, "ab")

    def _fail_waiting(self) -> None:
        while not self._queue.empty():
            _, done = self._queue.get_nowait()
            if not done.done():
                done.set_exception(AuditUnavailable())
