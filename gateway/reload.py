"""Hot reload: a new configuration is loaded and compiled in full, then swapped in with one assignment.

Three things trigger a reload: a change under ``policies/`` or ``tool_specs/``
(watched with watchfiles), SIGHUP, and ``POST /admin/policy/reload``. Reloads
run one at a time. A configuration that fails to load or compile never
reaches a call: the running one stays in force, the failure is logged, counted
and audited. A call in flight finishes under the runtime it started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchfiles import awatch

from gateway.audit import AuditRecord, AuditWriter
from gateway.auth import Principal
from gateway.config import Config, ConfigError, load_config
from gateway.config.loader import config_version
from gateway.errors import CONFIG_INVALID, OK, AuditUnavailable
from gateway.heap import Heap
from gateway.metrics import Metrics
from gateway.runtime import Runtime, RuntimeHolder

log = logging.getLogger("callgate.reload")

#: Settings read once, when the app is built (edge middleware, session store, audit writer, watcher)
#: or the server starts (uvicorn's options). A reload that changes one of them keeps the rest of the
#: new configuration and says a restart is needed. The other server settings are read per request.
RESTART_ONLY = {
    "server": (
        "max_body_bytes",
        "allowed_origins",
        "session_idle_s",
        "max_sessions",
        "watch_config",
        "limit_concurrency",
        "timeout_keep_alive_s",
        "max_header_bytes",
        "max_headers",
        "header_read_timeout_s",
        "allowed_hosts",
        "metrics_token_env",
        "shutdown_timeout_s",
    ),
    "logging": ("format", "level"),
    "audit": (
        "dir",
        "durability",
        "segment_max_bytes",
        "segment_max_age_s",
        "checkpoint_every",
        "checkpoint_interval_s",
    ),
}

#: How often a load is retried when the files change while it runs.
_ATTEMPTS = 3
#: After the watcher itself fails (say, a watched directory was replaced), wait this long and watch again.
_REWATCH_S = 2.0


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one reload attempt did. ``version`` is the configuration in force afterwards."""

    reloaded: bool
    version: str
    previous_version: str
    error: str | None = None
    restart_required: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "reloaded": self.reloaded,
            "version": self.version,
            "previous_version": self.previous_version,
            "error": self.error,
            "restart_required": list(self.restart_required),
        }


class Reloader:
    """Loads ``config_dir`` again, builds a runtime with ``build`` and swaps it into ``holder``."""

    def __init__(
        self,
        holder: RuntimeHolder,
        build: Callable[[Config], Runtime],
        audit: AuditWriter,
        metrics: Metrics,
        env: Mapping[str, str] | None = None,
        heap: Heap | None = None,
    ) -> None:
        self._holder = holder
        self._heap = heap
        self._build = build
        self._audit = audit
        self._metrics = metrics
        self._env = env  # None: the process environment as it is at each reload
        self._started_with = holder.current.config
        self.config_dir = self._started_with.config_dir
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[ReloadResult]] = set()

    async def reload(
        self, trigger: str, principal: Principal | None = None, request_id: str | None = None
    ) -> ReloadResult:
        """Load, compile and swap in the configuration now on disk; keep the running one if that fails."""
        async with self._lock:  # one at a time: two loads racing could swap in the older one last
            previous = self._holder.current.config.version
            try:
                # Parsing YAML and building the Casbin enforcer read files and take milliseconds: off the loop.
                runtime = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                log.error("configuration reload failed; keeping %s in force: %s", previous, exc)
                where = _where(exc, self.config_dir)
                return await self._failed(trigger, principal, request_id, previous, str(exc), where)
            except Exception:
                log.exception("configuration reload failed unexpectedly; keeping %s in force", previous)
                return await self._failed(trigger, principal, request_id, previous, "unexpected error", None)
            version = runtime.config.version
            restart = _restart_only_changes(self._started_with, runtime.config)
            result = ReloadResult(True, version, previous, restart_required=restart)
            try:
                # Recorded before the swap: no call is audited under a version whose reload is not on record.
                await self._record(trigger, principal, request_id, result, "success", OK, None)
            except AuditUnavailable:
                log.error("configuration reload not applied: its audit record could not be written")
                self._metrics.reload_attempted("failure", trigger)
                return ReloadResult(False, previous, previous, error="audit trail unavailable")
            self._holder.current = runtime  # the swap: one reference assignment
            if self._heap is not None:
                # The new runtime frozen; the old one collected now, or at the next reload if a call holds it.
                self._heap.settle()
            self._metrics.config_in_force(version)
            self._metrics.reload_attempted("success", trigger)
            log.info("configuration %s in force (was %s; trigger %s)", version, previous, trigger)
            if restart:
                log.warning("these settings changed but take effect only at restart: %s", ", ".join(restart))
            return result

    def _load(self) -> Runtime:
        for _ in range(_ATTEMPTS):
            config = load_config(self.config_dir, env=self._env)
            runtime = self._build(config)
            if self._unchanged_since_load(config):
                return runtime
        raise ConfigError(self.config_dir, "the files kept changing while they were loaded; reload again")

    def _unchanged_since_load(self, config: Config) -> bool:
        """Whether the files still hash to ``config.version`` now that the build has read them too.

        Casbin reads model.conf and policy.csv after the loader hashed them: an edit in between
        would label one policy with another's version, in every audit record it decides.
        """
        files = [config.model_path, config.policy_path, config.model_path.parent / "gateway.yaml"]
        files += [spec.source for spec in config.tools.values()]
        try:
            if config_version(files, config.config_dir) == config.version:
                return True
        except OSError:
            return False
        # The loader may hash files this list does not name; only a second load can say for sure.
        return load_config(self.config_dir, env=self._env).version == config.version

    async def _failed(
        self,
        trigger: str,
        principal: Principal | None,
        request_id: str | None,
        previous: str,
        message: str,
        where: dict[str, Any] | None,
    ) -> ReloadResult:
        self._metrics.reload_attempted("failure", trigger)
        result = ReloadResult(False, previous, previous, error=message)
        try:
            await self._record(trigger, principal, request_id, result, "failure", CONFIG_INVALID, where)
        except AuditUnavailable:
            log.error("the audit record of a failed configuration reload could not be written")
        return result

    async def _record(
        self,
        trigger: str,
        principal: Principal | None,
        request_id: str | None,
        result: ReloadResult,
        outcome: str,
        reason: str,
        where: dict[str, Any] | None,
    ) -> None:
        # Where a broken file is wrong, never what it says: a value in the message could be a secret.
        record = AuditRecord.reload(
            request_id=request_id,
            trigger=trigger,
            principal=principal,
            outcome=outcome,
            reason=reason,
            config_version=result.version,
            previous_version=result.previous_version,
            error=where,
            restart_required=result.restart_required,
        )
        await self._audit.write(record)

    @contextlib.asynccontextmanager
    async def triggers(self, watch: bool) -> AsyncIterator[None]:
        """Reload on SIGHUP (when this is the main thread) and, if ``watch``, on file changes, until exit."""
        loop = asyncio.get_running_loop()
        on_sighup = _install_sighup(loop, lambda: self._spawn("signal"))
        stop = asyncio.Event()
        watcher = asyncio.create_task(self.watch(stop), name="callgate-config-watch") if watch else None
        try:
            yield
        finally:
            stop.set()
            if on_sighup:
                loop.remove_signal_handler(signal.SIGHUP)
            if watcher is not None:
                await watcher
            if self._pending:
                await asyncio.gather(*self._pending, return_exceptions=True)

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload after each burst of changes under ``policies/`` and ``tool_specs/`` until ``stop`` is set."""
        while not stop.is_set():
            # Only these two: the audit directory may live in the config directory and changes on every call.
            paths = [path for path in (self.config_dir / "policies", self.config_dir / "tool_specs") if path.is_dir()]
            try:
                # awatch waits for a quiet moment (50 ms, at most 1.6 s) so that a burst of writes is one reload.
                async for changes in awatch(*paths, stop_event=stop, recursive=False):
                    names = sorted({Path(path).name for _, path in changes})
                    log.info("configuration files changed (%s); reloading", ", ".join(names)[:200])
                    await self.reload("watch")
            except Exception:
                log.exception("watching the configuration failed; watching again in %s s", _REWATCH_S)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _REWATCH_S)

    def _spawn(self, trigger: str) -> None:
        task = asyncio.get_running_loop().create_task(self.reload(trigger))
        self._pending.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._pending.discard)


def _install_sighup(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> bool:
    """Handle SIGHUP in ``loop``; False where signals cannot be handled (another thread, Windows)."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return False
    try:
        loop.add_signal_handler(signal.SIGHUP, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True


def _where(exc: ConfigError, config_dir: Path) -> dict[str, Any]:
    file = exc.file.relative_to(config_dir) if exc.file.is_relative_to(config_dir) else exc.file
    return {"file": str(file), "line": exc.line, "json_path": exc.json_path}


def _restart_only_changes(started: Config, new: Config) -> tuple[str, ...]:
    changed: list[str] = []
    for section, names in RESTART_ONLY.items():
        before, after = getattr(started.gateway, section), getattr(new.gateway, section)
        changed += [f"{section}.{name}" for name in names if getattr(before, name) != getattr(after, name)]
    return tuple(changed)
