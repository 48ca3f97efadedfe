"""Segment files on disk: their names, which chain they belong to, and whether a live process holds them.

A segment is ``audit-<chain>-<n>.jsonl``: ``n`` counts the chain's segments
from 0, so a chain reads in name order and a missing number shows. The process
writing a chain holds an exclusive ``flock`` on its current segment for as long
as it writes there; the lock goes with the process, so a chain nobody holds is
finished (closed cleanly, or its process died).

Also the writer's file operations: a whole append that reports how much made it, the directory's
fsync (a new segment's name survives a power cut), and a close that only logs its failure.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("callgate.audit")

_NAME = re.compile(r"^audit-(?P<chain>[0-9A-Za-z]+-[0-9]+-[0-9a-f]+)-(?P<n>[0-9]{6})\.jsonl$")
#: Held while a starting process looks for the chains it follows, so two workers starting at once take turns.
LOCK_FILE = ".chain.lock"
_TAIL_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    chain: str
    number: int


def segment_name(chain: str, number: int) -> str:
    return f"audit-{chain}-{number:06d}.jsonl"


def chains(directory: Path) -> dict[str, list[Segment]]:
    """Every chain in ``directory`` and its segments in order (an absent directory has none)."""
    found: dict[str, list[Segment]] = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in sorted(names):
        match = _NAME.match(name)
        if match:
            segment = Segment(directory / name, match["chain"], int(match["n"]))
            found.setdefault(segment.chain, []).append(segment)
    for segments in found.values():
        segments.sort(key=lambda segment: segment.number)
    return found


def is_held(path: Path) -> bool:
    """Whether a live process holds ``path`` (is still writing that chain)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(descriptor)
    return False


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def first_line(path: Path) -> bytes | None:
    """The first complete line of a segment, without its newline."""
    try:
        with open(path, "rb") as file:
            line = file.readline()
    except OSError:
        return None
    return line[:-1] if line.endswith(b"\n") else None


def last_line(path: Path) -> tuple[bytes | None, bool]:
    """The last complete line of a segment (without its newline), and whether a torn line follows it."""
    try:
        with open(path, "rb") as file:
            end = file.seek(0, os.SEEK_END)
            tail = b""
            position = end
            while position > 0:
                step = min(_TAIL_CHUNK, position)
                position -= step
                file.seek(position)
                tail = file.read(step) + tail
                if tail.count(b"\n") >= 2 or (position == 0 and b"\n" in tail):
                    break
    except OSError:
        return None, False
    torn = bool(tail) and not tail.endswith(b"\n")
    complete = tail[: tail.rfind(b"\n")] if b"\n" in tail else b""
    if not complete and b"\n" not in tail:
        return None, torn
    start = complete.rfind(b"\n") + 1
    return complete[start:], torn


def write_all(fd: int, data: bytes) -> int:
    """Write all of ``data``; on an error, raise it with ``written`` (bytes that made it) set on it."""
    view = memoryview(data)
    done = 0
    while done < len(view):
        try:
            done += os.write(fd, view[done:])
        except OSError as exc:
            exc.written = done  # type: ignore[attr-defined]
            raise
    return done


def sync_directory(directory: Path) -> None:
    """fsync the directory, so that a new segment's name survives a power cut too."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        log.debug("closing an audit segment failed", exc_info=True)
