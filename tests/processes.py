"""``callgate serve`` as real processes on loopback, for the tests that need several of them or a signal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.serving import free_port
from tests.conftest import REPO_ROOT, is_ready


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    audit_dir: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM, then the exit status (the process is killed if it outlives ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise


def start(config_dir: Path, workdir: Path, env: Mapping[str, str], *options: str) -> Served:
    """One ``callgate serve`` on a free port, its output in a file (a pipe nobody reads could fill)."""
    port = free_port()
    audit_dir = workdir / f"audit-{port}"
    log = workdir / f"serve-{port}.log"
    environment = {**os.environ, "CALLGATE_AUDIT_DIR": str(audit_dir), **env}
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--config-dir", str(config_dir)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, *options], env=environment, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    return Served(f"http://127.0.0.1:{port}", process, audit_dir, log, dict(env))


def wait_ready(served: Served, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not is_ready(served.url):
        assert served.process.poll() is None, f"callgate serve exited while starting:\n{served.log.read_text()}"
        assert time.monotonic() < deadline, "callgate serve did not become ready in time"
        time.sleep(0.1)


@contextlib.contextmanager
def serving(config_dir: Path, workdir: Path, env: Mapping[str, str], count: int = 1) -> Iterator[list[Served]]:
    """``count`` processes, all ready; each is stopped (SIGTERM) at the end if the test did not stop it."""
    processes = [start(config_dir, workdir, env) for _ in range(count)]
    try:
        for served in processes:
            wait_ready(served)
        yield processes
    finally:
        for served in processes:
            if served.process.poll() is None:
                served.process.send_signal(signal.SIGTERM)
        for served in processes:
            try:
                served.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.process.wait(timeout=10)
