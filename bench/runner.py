"""Run the scenarios in interleaved rounds: start them all, check each answers correctly, then measure
P, G, G_redis, ... once each per round, so a slow minute on a shared machine hits every scenario alike,
check the answers again, and stop them all."""

from __future__ import annotations

import contextlib
import resource
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.hotspots import Profiler
from bench.launch import Context, Launcher
from bench.load import LoadResult, run_load
from bench.processes import BenchError, Server, children_cpu_seconds, machine_busy_seconds
from bench.scenarios import Scenario, Target


@dataclass(frozen=True)
class Settings:
    duration_s: int
    warmup_s: int
    rounds: int  # side by side (bench.together): the ratios the targets judge
    connections: int
    generator: str
    profile_dir: Path | None = None
    alone_rounds: int = 1  # the first rounds that measure every scenario alone too


@dataclass(frozen=True)
class Measurement:
    load: LoadResult
    #: CPU seconds the server under test used during the measurement: busy share and cost per request.
    server_cpu_s: float
    #: CPU seconds spent by processes that are not part of the benchmark (another job on the machine skews it).
    foreign_cpu_s: float

    @property
    def foreign_share(self) -> float:
        """Other processes' CPU during the measurement, as a share of one core."""
        return self.foreign_cpu_s / self.load.duration_s if self.load.duration_s else 0.0

    @property
    def server_busy(self) -> float:
        return self.server_cpu_s / self.load.duration_s if self.load.duration_s else 0.0

    @property
    def server_us_per_request(self) -> float:
        return self.server_cpu_s / self.load.requests * 1e6 if self.load.requests else 0.0


@dataclass(frozen=True)
class Round:
    """One round's two measurements of a scenario."""

    loaded: Measurement  # at ``Settings.connections``
    single: Measurement  # at one connection: latency without queueing


def median_of(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    under_test: str  # the name of the server under test
    #: In the order measured; every scenario has one per round, interleaved with the others'.
    rounds: list[Round]
    peak_rss_mb: dict[str, float | None]  # server name -> VmHWM over the scenario's life
    hot_spots: str | None = None  # py-spy summary of the first round, with --profile

    @property
    def loaded(self) -> Measurement:
        """The round of median throughput at full load."""
        return _median_round([r.loaded for r in self.rounds], lambda m: m.load.rps)

    @property
    def single(self) -> Measurement:
        """The round of median p50 at one connection."""
        return _median_round([r.single for r in self.rounds], lambda m: m.load.p50_ms)


def _median_round(measurements: list[Measurement], key: Callable[[Measurement], float]) -> Measurement:
    ordered = sorted(measurements, key=key)
    return ordered[(len(ordered) - 1) // 2]


def verify(target: Target, when: str) -> None:
    """One request outside the load generator, checked in full; a benchmark of error responses is worthless."""
    request = target.request
    with httpx.Client(trust_env=False, timeout=10) as client:
        response = client.request(request.method, request.url, headers=request.headers, content=request.body)
    problem = target.check(response.status_code, response.content)
    if problem is not None:
        raise BenchError(f"{target.server.name} answers wrongly {when}: {problem}")


def measure(
    target: Target, servers: list[Server], settings: Settings, connections: int, core: int | None
) -> Measurement:
    """A warm-up (discarded), then the measurement, with the CPU time the server under test spent on it.

    Whatever CPU the machine spent beyond the servers, the load generator and this harness is another
    job's: the report shows it, because on a shared machine it is the first suspect for odd figures.
    """
    request, marker = target.request, target.marker
    if settings.warmup_s:
        run_load(settings.generator, request, marker, connections, settings.warmup_s, core)

    def ours() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return sum(s.cpu_seconds() for s in servers) + children_cpu_seconds() + own.ru_utime + own.ru_stime

    server_before, ours_before, machine_before = target.server.cpu_seconds(), ours(), machine_busy_seconds()
    load = run_load(settings.generator, request, marker, connections, settings.duration_s, core)
    foreign = (machine_busy_seconds() - machine_before) - (ours() - ours_before)
    return Measurement(load, target.server.cpu_seconds() - server_before, max(0.0, foreign))


@dataclass
class Running:
    """A scenario whose servers are up, and the rounds measured so far."""

    scenario: Scenario
    launch: Launcher
    target: Target
    rounds: list[Round] = field(default_factory=list)
    hot_spots: str | None = None


def start_scenario(scenario: Scenario, context: Context, stack: contextlib.ExitStack) -> Running:
    """Start ``scenario``'s servers (stopped when ``stack`` closes) and check that they answer correctly."""
    launch = stack.enter_context(Launcher(context, scenario.name))
    target = scenario.start(launch)
    verify(target, "before the load")
    return Running(scenario, launch, target)


def measure_round(running: Running, context: Context, settings: Settings) -> Round:
    """One round of ``running``: full load, then one connection; the first round is profiled with --profile."""
    others = context.cores.others
    target, servers = running.target, running.launch.servers
    profiler = None
    if settings.profile_dir is not None and not running.rounds:
        profiler = Profiler(settings.profile_dir, running.scenario.name)
        # Starts with the warm-up; py-spy samples for warm-up plus measurement.
        profiler.start(target.server.pid, settings.warmup_s + settings.duration_s, others)
    loaded = measure(target, servers, settings, settings.connections, others)
    if profiler is not None:
        running.hot_spots = profiler.finish()
    single = measure(target, servers, settings, 1, others)
    measured = Round(loaded, single)
    running.rounds.append(measured)
    return measured


def finish_scenario(running: Running) -> ScenarioResult:
    """Check the answers once more and read the peak memory; the servers stop with the stack."""
    verify(running.target, "after the load")
    memory = {server.name: server.read_peak_rss_mb() for server in running.launch.servers}
    return ScenarioResult(running.scenario, running.target.server.name, list(running.rounds), memory, running.hot_spots)
