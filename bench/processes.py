"""Servers under test as subprocesses: started pinned to a core, waited for, measured, always stopped.

Each server runs in a process of its own so that its peak memory can be read
from ``/proc/<pid>/status`` and it can be given a core to itself. Every process
is a session leader, so stopping it stops whatever it spawned too.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The checkout the harness runs from; children run there, so ``python -m bench.proxy`` finds the package.
REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """The benchmark cannot give a meaningful figure (a server did not start, or answered wrongly)."""


@dataclass(frozen=True)
class Cores:
    """Where things run: the server under test on one core, everything else on another.

    With a single usable core nothing is pinned (and the report says so).
    """

    server: int | None
    others: int | None

    @classmethod
    def detect(cls) -> Cores:
        usable = sorted(os.sched_getaffinity(0))
        if len(usable) < 2:
            return cls(None, None)
        return cls(usable[0], usable[1])

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (fewer than 2 usable cores)"
        return (
            f"server under test on core {self.server} (in B1 the demo backend itself); every other process "
            f"(the demo backend behind P and G, the load generator, the harness) on core {self.others}"
        )


def pinned_to(core: int | None, *, batch: bool = False) -> dict[str, Any]:
    """``Popen`` options that pin the child (and the threads it starts later) to ``core``.

    ``batch`` puts it under SCHED_BATCH: when the servers under test share their core side by side
    (bench.together), a server woken by a request does not preempt the one running, so each runs whole
    time slices instead of trading the core (and its caches) at every packet. Alone on its core a server
    is not affected: there is nobody to preempt.
    """
    if core is None:
        return {}

    def place() -> None:
        # Inherited by every thread the server starts later (asyncio.to_thread included).
        os.sched_setaffinity(0, {core})
        if batch:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))

    return {"preexec_fn": place}


def _cpu_line() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal ..., in ticks."""
    try:
        return [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, IndexError, ValueError):
        return [0] * 8


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have spent in user and system mode since boot (every core summed)."""
    user, nice, system = _cpu_line()[:3]
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def machine_steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests while this one wanted it: a noisy neighbour's mark."""
    return _cpu_line()[7] / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of the harness's finished children (the load generator, once it has been waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Server:
    """One running server process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    peak_rss_mb: float | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_peak_rss_mb(self) -> float | None:
        """VmHWM: the highest resident set size the process has had so far, in MB."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process (all its threads) has used so far."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rpartition(")")[2].split()  # after the command name, which may contain spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run_seconds(self) -> float:
        """Time its threads have spent on a CPU, to the nanosecond (schedstat): for measurements where the
        server holds a core for well under a second and clock ticks would be too coarse."""
        total = 0
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_server(
    name: str,
    argv: Sequence[str],
    port: int,
    env: dict[str, str],
    core: int | None,
    log_dir: Path,
    startup_timeout_s: float = 20.0,
    *,
    batch: bool = False,
) -> Server:
    """Start ``argv`` and return once ``port`` accepts connections (uvicorn binds after its lifespan startup)."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # preexec_fn is safe here: the harness starts no threads
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            start_new_session=True,  # its own process group, so stop() reaches its children too
            **pinned_to(core, batch=batch),
        )
    server = Server(name=name, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + startup_timeout_s
    while True:
        if process.poll() is not None:
            raise BenchError(f"{name} exited with status {process.returncode} while starting:\n{server.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return server
        if time.monotonic() > deadline:
            stop(server)
            raise BenchError(
                f"{name} did not listen on port {port} within {startup_timeout_s:.0f} s:\n{server.log_tail()}"
            )
        time.sleep(0.05)


def stop(server: Server) -> None:
    """Record the peak memory, then stop the process group: SIGTERM, and SIGKILL if it lingers."""
    if server.process.poll() is None:
        server.peak_rss_mb = server.read_peak_rss_mb()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.process.wait(timeout=5)


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    """Stops every server in ``servers`` (started so far, in reverse order) on every way out."""
    try:
        yield servers
    finally:
        for server in reversed(servers):
            stop(server)


def python() -> str:
    """The interpreter running the harness (the project's venv), for ``python -m`` children."""
    return sys.executable


def venv_script(name: str) -> str:
    """A console script installed next to the interpreter, e.g. ``callgate``."""
    return str(Path(sys.executable).parent / name)


#: One audit record's worth: what G's writer appends before each sync at one connection.
RECORD_LINE = b"x" * 700 + b"\n"


def append_and_sync(fd: int) -> float:
    """Append one record line to ``fd`` and fdatasync it, as G's writer does per call: the seconds it took."""
    started = time.perf_counter()
    os.write(fd, RECORD_LINE)
    os.fdatasync(fd)
    return time.perf_counter() - started


def fdatasync_p50_ms(directory: Path, core: int | None, samples: int = 200) -> float:
    """The disk's own price of durability, back to back: the median time of appending one audit-sized line
    and fdatasync, where the audit segments live, from ``core`` (the server core, where G's writer syncs).

    For comparison only: the fsync target allows G the disk's fdatasync at G's pace, sampled in the
    turns (bench.turns), since a virtual disk answers a sync after a pause several times more slowly.
    """
    fd = os.open(directory / "fdatasync-probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    home = os.sched_getaffinity(0)
    try:
        if core is not None:
            os.sched_setaffinity(0, {core})
        timings = [append_and_sync(fd) for _ in range(samples)]
    finally:
        os.sched_setaffinity(0, home)
        os.close(fd)
    timings.sort()
    return 1000 * timings[len(timings) // 2]
