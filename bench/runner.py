"""Run one scenario: start it, check it answers correctly, warm it up, measure, check again, stop it."""

from __future__ import annotations

import resource
from dataclasses import dataclass
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
    connections: int
    generator: str
    profile_dir: Path | None = None


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
class ScenarioResult:
    scenario: Scenario
    under_test: str  # the name of the server under test
    loaded: Measurement  # at ``Settings.connections``
    single: Measurement  # at one connection: latency without queueing
    peak_rss_mb: dict[str, float | None]  # server name -> VmHWM over the scenario's life
    hot_spots: str | None = None  # py-spy summary, with --profile


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


def run_scenario(scenario: Scenario, context: Context, settings: Settings) -> ScenarioResult:
    others = context.cores.others
    with Launcher(context, scenario.name) as launch:
        target = scenario.start(launch)
        verify(target, "before the load")
        profiler = Profiler(settings.profile_dir, scenario.name) if settings.profile_dir else None
        if profiler is not None:
            # Starts with the warm-up; py-spy samples for warm-up plus measurement.
            profiler.start(target.server.pid, settings.warmup_s + settings.duration_s, others)
        loaded = measure(target, launch.servers, settings, settings.connections, others)
        hot_spots = profiler.finish() if profiler is not None else None
        single = measure(target, launch.servers, settings, 1, others)
        verify(target, "after the load")
        memory = {server.name: server.read_peak_rss_mb() for server in launch.servers}
    return ScenarioResult(scenario, target.server.name, loaded, single, memory, hot_spots)
