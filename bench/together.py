"""Scenarios measured at the same moments: the figures the targets judge.

On a shared virtual machine the core's own speed moves by tens of percent
from one ten-second stretch to the next (hypervisor steal shows none of it),
so two scenarios measured one after the other can differ by more than the
gateway's stages cost. Measured side by side, a slow stretch falls on both:

- **throughput**, in pairs: the two scenarios of a ratio (G and P, G_redis and
  G, ...) loaded at once, their servers under test sharing the server core.
  Each is saturated (its connections always have a request waiting), so the
  scheduler gives each half and it answers as many requests as its CPU cost
  allows: requests per CPU-second of the server core is the throughput it has
  on a core of its own, measured at the same moments as the other's. Pairs,
  not every scenario at once: with six servers on the core, their cross-core
  traffic (to Redis, to the backends) disturbs each other's figures more than
  the machine does.
- **latency**: one connection to every server and one request at a time over
  all of them in turn (bench.turns), so each answers alone, as at one
  connection, and each p50 is sampled over the same stretch of time. When G
  runs, the disk takes turns too: append + fdatasync where G's segments live,
  from the server core, at G's pace, which is what the fsync target allows G.

The servers under test run under SCHED_BATCH (bench.processes.pinned_to), so sharing the core they take
turns in whole time slices rather than at every packet.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import LoadResult, start_load
from bench.processes import REPO_ROOT, BenchError, pinned_to, python
from bench.runner import Running, Settings
from bench.turns import DISK


@dataclass(frozen=True)
class Shared:
    """One scenario's share of a side-by-side load."""

    load: LoadResult
    server_cpu_s: float  # CPU seconds its server under test used during the measurement
    window_s: float  # how long the CPU time was counted: from the loads' start to the last one's end

    @property
    def per_cpu_second(self) -> float:
        """Requests answered per CPU-second: its throughput on a core of its own."""
        return self.load.requests / self.server_cpu_s if self.server_cpu_s else 0.0

    @property
    def core_share(self) -> float:
        """Its share of the server core while every scenario was loaded."""
        return self.server_cpu_s / self.window_s if self.window_s else 0.0


@dataclass(frozen=True)
class DiskTurns:
    """Where the disk takes its turns: a file beside G's segments, probed from the server core."""

    path: Path
    core: int | None


@dataclass(frozen=True)
class Together:
    """One round side by side: each pair loaded at once, then one request to each scenario in turn."""

    #: (scenario, the scenario it is judged against) -> their two shares of the load, in that order.
    pairs: dict[tuple[str, str], tuple[Shared, Shared]]
    single: dict[str, LoadResult]
    #: The disk's append + fdatasync in the same turns, at G's pace (None: G did not run).
    disk: LoadResult | None = None

    def failed(self) -> set[str]:
        """The scenarios that gave a wrong answer in this round's side-by-side measurements."""
        found = {name for name, load in self.single.items() if load.failures}
        for names, shares in self.pairs.items():
            found |= {name for name, share in zip(names, shares, strict=True) if share.load.failures}
        return found

    def ratio(self, mine: str, theirs: str) -> float | None:
        """``mine``'s requests per CPU-second over ``theirs``, from the pair's measurement, if it was measured."""
        pair = self.pairs.get((mine, theirs))
        if pair is None:
            return None
        return pair[0].per_cpu_second / pair[1].per_cpu_second if pair[1].per_cpu_second else float("nan")


def pairs_of(running: Sequence[Running], baseline: str) -> list[tuple[Running, Running]]:
    """Every scenario with ``baseline``, and every scenario with the one it is judged against."""
    by_name = {r.scenario.name: r for r in running}
    found: list[tuple[Running, Running]] = []
    for each in running:
        others = [baseline] + ([each.scenario.relative_to[0]] if each.scenario.relative_to else [])
        for other in dict.fromkeys(others):
            if other != each.scenario.name and other in by_name:
                found.append((each, by_name[other]))
    return found


def measure_together(
    running: Sequence[Running], settings: Settings, core: int | None, baseline: str, disk: DiskTurns
) -> Together:
    pairs = {
        (a.scenario.name, b.scenario.name): _loaded_at_once(a, b, settings, core)
        for a, b in pairs_of(running, baseline)
    }
    single = _in_turns(running, settings, core, disk)
    return Together(pairs, single, single.pop(DISK, None))


def _loaded_at_once(a: Running, b: Running, settings: Settings, core: int | None) -> tuple[Shared, Shared]:
    """Both loads at once, no warm-up: both servers were loaded alone just before."""
    pair = (a, b)
    loads = [
        start_load(
            settings.generator, r.target.request, r.target.marker, settings.connections, settings.duration_s, core
        )
        for r in pair
    ]
    # From here to the last generator's end: each server's own load lies within it, and outside it idles.
    before, started = [r.target.server.run_seconds() for r in pair], time.monotonic()
    results = [load.result(settings.duration_s + 60) for load in loads]
    window_s = time.monotonic() - started
    first, second = (
        Shared(result, r.target.server.run_seconds() - cpu, window_s)
        for r, result, cpu in zip(pair, results, before, strict=True)
    )
    return first, second


def _in_turns(
    running: Sequence[Running], settings: Settings, core: int | None, disk: DiskTurns
) -> dict[str, LoadResult]:
    names = [each.scenario.name for each in running]
    # G syncs once per request; between two syncs it does the rest of its round trip, which is G_write's.
    pace_of = ("G_write" if "G_write" in names else "G") if "G" in names else None
    # Each takes 1/n of the time: n times the duration gives each a solo measurement's worth.
    duration_s = settings.duration_s * (len(running) + (pace_of is not None))
    spec: dict[str, object] = {
        "duration_s": duration_s,
        "targets": {
            each.scenario.name: {
                "method": each.target.request.method,
                "url": each.target.request.url,
                "headers": each.target.request.headers,
                "body": each.target.request.body.decode(),
                "marker": each.target.marker.decode(),
            }
            for each in running
        },
    }
    if pace_of is not None:
        spec["disk"] = {"path": str(disk.path), "core": disk.core, "pace_of": pace_of}
    completed = subprocess.run(  # preexec_fn is safe here: the harness starts no threads
        [python(), "-m", "bench.turns"],
        input=json.dumps(spec),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
        **pinned_to(core),
    )
    if completed.returncode != 0:
        raise BenchError(f"the latency-in-turns client failed (status {completed.returncode}):\n{completed.stderr}")
    figures = json.loads(completed.stdout)
    return {name: LoadResult(generator="turns", connections=1, **value) for name, value in figures.items()}
