"""What a scenario uses to start its servers: ports, cores, logs and clean-up are handled here.

A scenario asks for the processes it needs (the demo backend, the gateway, a
Redis, anything with a command line) and says which one is under test; the
launcher pins that one to the server core and the rest next to the load
generator, and stops them all when the scenario ends, however it ends.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.processes import Cores, Server, python, start_server, stop, venv_script
from gateway.serving import free_port

#: A filesystem in memory, where a scenario's files cannot hold up another scenario's disk syncs.
MEMORY_FS = Path("/dev/shm")


@dataclass(frozen=True)
class Context:
    """What every scenario may rely on."""

    repo_root: Path
    work_dir: Path  # a temporary directory of this run: logs, audit segments
    cores: Cores
    demo_keys: dict[str, str]


class Launcher:
    def __init__(self, context: Context, scenario: str) -> None:
        self.context = context
        self.servers: list[Server] = []
        self._dir = context.work_dir / scenario
        self._dir.mkdir(parents=True, exist_ok=True)
        self._memory_dir: Path | None = None

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):  # stop the others even if one cannot be stopped
                stop(server)
        if self._memory_dir is not None:
            shutil.rmtree(self._memory_dir, ignore_errors=True)

    @property
    def dir(self) -> Path:
        """A directory of this scenario's own (for audit segments, data files)."""
        return self._dir

    def memory_dir(self) -> Path:
        """A directory of this scenario's own in memory (tmpfs), removed when the scenario ends.

        For files that are never synced (audit.durability: write). On the disk, their page-cache backlog
        would be written out by the next journal commit of the filesystem, and those commits are what
        the scenarios that do sync (G's fdatasync per group) wait for: one scenario's files would
        lengthen another's latency. The scenario's own directory where there is no tmpfs.
        """
        if self._memory_dir is None:
            if not MEMORY_FS.is_dir():
                return self._dir
            self._memory_dir = Path(tempfile.mkdtemp(prefix="callgate-bench-", dir=MEMORY_FS))
        return self._memory_dir

    def start(self, name: str, argv: Sequence[str], *, under_test: bool, env: dict[str, str] | None = None) -> Server:
        """Start a server whose command line takes the port from ``{port}`` in ``argv``."""
        port = free_port()
        cores = self.context.cores
        server = start_server(
            name,
            [part.replace("{port}", str(port)) for part in argv],
            port,
            env or {},
            cores.server if under_test else cores.others,
            self._dir,
            batch=under_test,
        )
        self.servers.append(server)
        return server

    def demo_backend(self, *, under_test: bool = False) -> Server:
        """``callgate demo-backends``: the CRM every scenario's request ends at."""
        return self.start(
            "backend", [venv_script("callgate"), "demo-backends", "--port", "{port}"], under_test=under_test
        )

    def gateway(self, backend: Server, *, config_dir: Path | None = None, env: dict[str, str] | None = None) -> Server:
        """``callgate serve`` on one worker, on the shipped configuration unless ``config_dir`` says otherwise."""
        argv = [
            venv_script("callgate"),
            "serve",
            "--port",
            "{port}",
            "--log-level",
            "warning",
            "--config-dir",
            str(config_dir or self.context.repo_root),
        ]
        settings = {
            "CALLGATE_DEMO_BACKEND_URL": backend.url,
            "CALLGATE_AUDIT_DIR": str(self._dir / "audit"),
            **(env or {}),
        }
        return self.start("gateway", argv, under_test=True, env=settings)

    def proxy(self, upstream: str) -> Server:
        """Scenario P's bare pass-through (:mod:`bench.proxy`)."""
        argv = [python(), "-m", "bench.proxy", "--port", "{port}", "--upstream", upstream]
        return self.start("proxy", argv, under_test=True)
