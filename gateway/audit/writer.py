"""Group-committed, hash-chained JSON Lines segments.

Callers hand a record to :meth:`AuditWriter.write` and wait until it is
written. With ``durability: fsync`` one writer thread takes every record
queued so far, seals them into this process's chain (gateway.audit.chain),
appends them with one ``write`` and one ``fdatasync``, then releases all their
callers with a single wake-up of the event loop: many records per sync, and
the event loop never waits for the disk.

With ``durability: write`` nothing waits for the disk, so there is no thread:
the records of one event-loop pass are sealed and appended with one ``write``
(a copy into the page cache) at the end of that pass, and their callers go on
at once. A thread would add two wake-ups and a handover of the interpreter
lock to every group for no gain.

When the trail cannot be written (disk full, permission denied, directory
gone) every caller in the batch gets :class:`AuditUnavailable`, so their calls
are refused; :attr:`problem` says why, for ``/readyz``. The chain keeps only
what reached the file, the broken segment is left as it is, and the next
attempt (the next record, or a retry every half second while idle) begins a
new segment with an ``audit/checkpoint`` saying the trail recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway.audit.canonical import GENESIS
from gateway.audit.chain import Chain, chain_ends_to_link, checkpoint_key, new_chain_id
from gateway.audit.digest import ArgumentDigest
from gateway.audit.record import AuditRecord
from gateway.audit.segments import close_quietly, directory_lock, segment_name, sync_directory, write_all
from gateway.config.model import AuditDurability, AuditSettings
from gateway.errors import AuditUnavailable

log = logging.getLogger("callgate.audit")

_Pending = tuple[AuditRecord, asyncio.Future[None]]
_STOP = None
#: While the trail cannot be written, how often the writer tries again with no record waiting.
RETRY_S = 0.5
_DEFAULTS = AuditSettings(dir=Path())


class AuditWriter:
    def __init__(
        self,
        directory: Path,
        *,
        durability: AuditDurability = "fsync",
        digest: ArgumentDigest | None = None,
        key: bytes | None = None,
        segment_max_bytes: int = _DEFAULTS.segment_max_bytes,
        segment_max_age_s: float = _DEFAULTS.segment_max_age_s,
        checkpoint_every: int = _DEFAULTS.checkpoint_every,
        checkpoint_interval_s: float = _DEFAULTS.checkpoint_interval_s,
        on_failure: Callable[[int], None] | None = None,
    ) -> None:
        self.directory = directory
        #: How this trail's records digest arguments: keyed, so the digests cannot be reversed by guessing.
        self.digest = digest if digest is not None else ArgumentDigest.for_trail(directory, os.environ)
        self.durability = durability
        self.signed = key is not None
        self._sync = durability == "fsync"
        self._max_bytes, self._max_age_s = segment_max_bytes, segment_max_age_s
        self._every, self._interval_s = checkpoint_every, checkpoint_interval_s
        self._on_failure = on_failure
        #: Told each group's write and fdatasync time in seconds (None: not synced), on the writer's thread.
        self.on_written: Callable[[float, float | None], None] | None = None
        self._chain = Chain(new_chain_id(), key)
        self._inbox: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: durability write: the records of this event-loop pass, appended when it ends (no thread).
        self._pass: list[_Pending] | None = None
        self._appending = False  # durability write: started and not closed
        self._idle: asyncio.TimerHandle | None = None
        self._fd: int | None = None
        self._broken = False  # the current segment failed: the next write begins another
        self._number = -1
        self._bytes = 0
        self._opened = 0.0
        self._last_checkpoint = 0.0
        #: Why the trail cannot be written now (None while it can): the reason /readyz gives.
        self.problem: str | None = None
        self.path: Path | None = None

    @classmethod
    def from_settings(
        cls,
        settings: AuditSettings,
        env: Mapping[str, str],
        *,
        digest: ArgumentDigest | None = None,
        on_failure: Callable[[int], None] | None = None,
    ) -> AuditWriter:
        """The writer ``audit`` in gateway.yaml describes, with the checkpoint key from ``env`` (if set)."""
        return cls(
            settings.dir,
            durability=settings.durability,
            digest=digest if digest is not None else ArgumentDigest.for_trail(settings.dir, env),
            key=checkpoint_key(env),
            segment_max_bytes=settings.segment_max_bytes,
            segment_max_age_s=settings.segment_max_age_s,
            checkpoint_every=settings.checkpoint_every,
            checkpoint_interval_s=settings.checkpoint_interval_s,
            on_failure=on_failure,
        )

    @property
    def chain_id(self) -> str:
        return self._chain.id

    @property
    def queued(self) -> int:
        """Records handed to the writer and not yet taken into a group (for metrics)."""
        return self._inbox.qsize() if self._sync else len(self._pass or ())

    @property
    def running(self) -> bool:
        if not self._sync:
            return self._appending
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        """Begin this process's chain; raises OSError when the directory cannot be written (startup fails)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._begin)
        if not self._sync:
            self._appending = True
            self._wait_idle()
            return
        self._thread = threading.Thread(target=self._commit_loop, name="callgate-audit", daemon=True)
        self._thread.start()

    async def write(self, record: AuditRecord) -> None:
        """Return once ``record`` is written; raise :class:`AuditUnavailable` if it cannot be."""
        if not self.running or self._loop is None:
            raise AuditUnavailable()
        done: asyncio.Future[None] = self._loop.create_future()
        if self._sync:
            self._inbox.put((record, done))
        elif self._pass is None:
            self._pass = [(record, done)]
            self._loop.call_soon(self._append_pass)  # after the callbacks of this pass: one write for all
        else:
            self._pass.append((record, done))
        await done

    async def close(self) -> None:
        """Commit what is queued, write the final checkpoint, stop the thread and close the segment."""
        if self._thread is not None:
            self._inbox.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._appending:
            self._append_pass()
            self._appending = False
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            self._finish()
        if self._fd is not None:
            close_quietly(self._fd)
            self._fd = None

    # durability write: on the event loop.

    def _append_pass(self) -> None:
        batch, self._pass = self._pass or [], None
        if batch:
            failed = not self._commit([record for record, _ in batch])
            _settle([done for _, done in batch], failed)
            if failed or self._idle is None:  # after a failure a retry is due sooner than a checkpoint was
                self._wait_idle()

    def _wait_idle(self) -> None:
        """(Re)arm the timer for a due checkpoint, or another try at a trail that could not be written."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        timeout = self._idle_timeout()
        if timeout is not None and self._loop is not None:
            self._idle = self._loop.call_later(timeout, self._when_idle)

    def _when_idle(self) -> None:
        self._idle = None
        if self._appending:
            self._commit([])
            self._wait_idle()

    # Everything below runs on the writer thread (or in start(), before it exists); with durability write,
    # on the event loop.

    def _begin(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # One starting process at a time decides what it links to, so two workers do not both miss a chain.
        with directory_lock(self.directory):
            ends = chain_ends_to_link(self.directory, self._chain.id)
            self._chain.prev = ends[0].hash if ends else GENESIS
            self._open_next()
            assert self.path is not None
            start = self._chain.checkpoint("start", self.path.name, links=[end.to_link() for end in ends])
            line = self._chain.seal(start)
            write_all(self._require_fd(), line)
            os.fsync(self._require_fd())
            self._bytes += len(line)
            self._last_checkpoint = time.monotonic()

    def _commit_loop(self) -> None:
        while True:
            try:
                first = self._inbox.get(timeout=self._idle_timeout())
            except queue.Empty:
                self._commit([])  # a due checkpoint, or another try at a trail that could not be written
                continue
            if first is _STOP:
                self._finish()
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
            failed = not self._commit([record for record, _ in batch])
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_settle, [done for _, done in batch], failed)
            if stopping:
                self._finish()
                return

    def _idle_timeout(self) -> float | None:
        if self.problem is not None:
            return RETRY_S
        if self._chain.since_checkpoint:
            return max(0.0, self._last_checkpoint + self._interval_s - time.monotonic())
        return None

    def _commit(self, records: list[AuditRecord], checkpoint: str | None = None) -> bool:
        """Seal and append ``records`` (and any checkpoint due, or the one ``checkpoint`` names: why it is sealed);
        False when they could not be written."""
        before = self._chain.state
        lines: list[bytes] = []
        states: list[tuple[int, str, int]] = []
        checkpointed = False
        written = 0
        try:
            if self._fd is None or self._broken or self._rotation_due():
                self._open_next()
                if self.problem is not None:
                    lines.append(self._seal_checkpoint("recovered", problem=self.problem))
                    states.append(self._chain.state)
            for record in records:
                lines.append(self._chain.seal(record))
                states.append(self._chain.state)
                if self._chain.since_checkpoint >= self._every:
                    lines.append(self._seal_checkpoint("count"))
                    states.append(self._chain.state)
                    checkpointed = True
            now = time.monotonic()
            since = self._chain.since_checkpoint
            if checkpoint is None and since and now - self._last_checkpoint >= self._interval_s:
                checkpoint = "interval"
            if checkpoint is not None:
                lines.append(self._seal_checkpoint(checkpoint))
                states.append(self._chain.state)
                checkpointed = True
            if not lines:
                return True
            data = b"".join(lines)
            fd = self._require_fd()
            began = time.perf_counter()
            written = write_all(fd, data)
            wrote = time.perf_counter()
            synced = None
            if self._sync or checkpoint == "shutdown":
                os.fdatasync(fd)
                synced = time.perf_counter() - wrote
            if self.on_written is not None:
                self.on_written(wrote - began, synced)
            if os.fstat(fd).st_nlink == 0:
                raise OSError(errno.ENOENT, "the audit segment was removed from its directory")
        except OSError as exc:
            self._keep_what_was_written(before, lines, states, getattr(exc, "written", written))
            self._failed(exc, len(records))
            return False
        except Exception:
            # A record that cannot be serialised (a bug): nothing was written; fail closed, keep the thread.
            log.exception("an audit batch could not be sealed; refusing its calls")
            self._chain.restore(before)
            return False
        self._bytes += len(data)
        if checkpointed:
            self._last_checkpoint = now
        if self.problem is not None:
            log.warning("the audit trail is writable again (%s)", self.path.name if self.path else "-")
            self.problem = None
        return True

    def _seal_checkpoint(self, reason: str, **extra: Any) -> bytes:
        assert self.path is not None
        return self._chain.seal(self._chain.checkpoint(reason, self.path.name, **extra))

    def _keep_what_was_written(
        self, before: tuple[int, str, int], lines: list[bytes], states: list[tuple[int, str, int]], written: int
    ) -> None:
        """The chain goes on from the last whole line that reached the file; a torn rest is cut if possible."""
        whole, kept = 0, before
        for line, state in zip(lines, states, strict=True):
            if whole + len(line) > written:
                break
            whole += len(line)
            kept = state
        self._chain.restore(kept)
        if self._fd is not None and written > whole:
            # Never acknowledged, so cutting it is no rewrite of the trail; if even that fails, it stays
            # a torn line, which verify tells from tampering.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._bytes + whole)
        self._bytes += whole
        self._broken = True

    def _failed(self, exc: OSError, records: int) -> None:
        problem = f"audit trail cannot be written: {exc.strerror or exc}"
        if self.problem is None:
            log.error("%s; refusing calls until it can", problem)
        self.problem = problem
        if self._on_failure is not None and records:
            self._on_failure(records)

    def _rotation_due(self) -> bool:
        return self._bytes >= self._max_bytes or time.monotonic() - self._opened >= self._max_age_s

    def _open_next(self) -> None:
        """Create and lock the chain's next segment, then let go of the previous one."""
        number = self._number + 1
        path = self.directory / segment_name(self._chain.id, number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._number = number  # taken, even if what follows fails: the next attempt makes the next one
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while this process writes here (segments.py)
            if self._sync:
                sync_directory(self.directory)
        except OSError:
            os.close(fd)
            raise
        previous, self._fd = self._fd, fd
        if previous is not None:
            close_quietly(previous)
        self._bytes, self._opened, self._broken = 0, time.monotonic(), False
        self.path = path

    def _finish(self) -> None:
        if self._fd is not None and not self._commit([], checkpoint="shutdown"):
            log.error("the audit trail's final checkpoint could not be written")

    def _require_fd(self) -> int:
        if self._fd is None:
            raise OSError(errno.EBADF, "no open audit segment")
        return self._fd


def _settle(waiters: list[asyncio.Future[None]], failed: bool) -> None:
    for done in waiters:
        if done.done():  # the caller was cancelled while its record was being written
            continue
        if failed:
            done.set_exception(AuditUnavailable())
        else:
            done.set_result(None)


def audit_problem(writer: AuditWriter) -> str | None:
    """Why calls are refused with audit.unavailable now, for /readyz; None while the trail is written."""
    if not writer.running:
        return f"{AuditUnavailable.reason}: the audit writer is not running"
    if writer.problem is not None:
        return f"{AuditUnavailable.reason}: {writer.problem}"
    return None
