"""Group-committed JSON Lines audit segments.

Callers hand a record to :meth:`AuditWriter.write` and wait until it is
durable. One writer thread takes every record queued so far, writes them with
one ``write`` and one ``fsync``, and then releases all their callers with a
single wake-up of the event loop: many records per fsync, and the event loop
never blocks on disk. If the write fails, every caller in that batch gets
:class:`AuditUnavailable`, so the calls they belong to are refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from gateway.errors import AuditUnavailable
from gateway.jsoncodec import dumps

log = logging.getLogger("callgate.audit")

_Pending = tuple[bytes, asyncio.Future[None]]
_STOP = None


class AuditWriter:
    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self._fsync = fsync
        self._inbox: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._file: IO[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.path: Path | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        """Open a new segment; raises OSError when the directory cannot be written (startup fails)."""
        self._loop = asyncio.get_running_loop()
        self._file = await asyncio.to_thread(self._open_segment)
        self._thread = threading.Thread(target=self._commit_loop, name="callgate-audit", daemon=True)
        self._thread.start()

    async def write(self, record: dict[str, Any]) -> None:
        """Return once ``record`` is durable; raise :class:`AuditUnavailable` if it cannot be."""
        if not self.running or self._loop is None:
            raise AuditUnavailable()
        line = dumps(record) + b"\n"
        done: asyncio.Future[None] = self._loop.create_future()
        self._inbox.put((line, done))
        await done

    async def close(self) -> None:
        """Commit what is queued, then stop the writer thread and close the segment."""
        if self._thread is not None:
            self._inbox.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._file is not None:
            try:
                await asyncio.to_thread(self._file.close)
            except OSError:
                log.exception("closing the audit segment failed")
            self._file = None

    def _commit_loop(self) -> None:
        while True:
            first = self._inbox.get()
            if first is _STOP:
                return
            batch = [first]
            stopping = False
            while True:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            failed = False
            try:
                self._append(b"".join(line for line, _ in batch))
            except OSError:
                log.exception("audit segment write failed; refusing the calls in this batch")
                failed = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_settle, [done for _, done in batch], failed)
            if stopping:
                return

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
        return open(self.path, "ab")  # held open for the life of the writer


def _settle(waiters: list[asyncio.Future[None]], failed: bool) -> None:
    for done in waiters:
        if done.done():  # the caller was cancelled while its record was being written
            continue
        if failed:
            done.set_exception(AuditUnavailable())
        else:
            done.set_result(None)
