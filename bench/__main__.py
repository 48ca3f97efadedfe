"""``python -m bench``: run the scenarios and the stage costs, print the report, write bench/results.md."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.launch import Context
from bench.load import pick_generator
from bench.processes import REPO_ROOT, BenchError, Cores, fdatasync_p50_ms, machine_steal_seconds, pinned_to, python
from bench.report import BASELINE, RunInfo, render
from bench.runner import Running, ScenarioResult, Settings, finish_scenario, measure_round, start_scenario
from bench.scenarios import registered, select
from bench.together import DiskTurns, Together, measure_together
from gateway.demo.keys import read_demo_keys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure B1, P, G (and any registered scenario) and the stage costs; write bench/results.md.",
    )
    names = ",".join(s.name for s in registered())
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=9, help="rounds side by side; each ratio is the median of its rounds (default 9)"
    )
    parser.add_argument(
        "--alone-rounds",
        type=int,
        default=3,
        help="of those, how many first measure every scenario alone too (default 3)",
    )
    parser.add_argument("--warmup", type=int, default=None, help="seconds of warm-up before each (default 1-2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--scenarios", default=None, help=f"comma-separated subset of {names}")
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-stages", action="store_true", help="skip the stage-cost microbenchmarks")
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="DIR", help="py-spy each server under test; stacks go to DIR"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench" / "results.md", help="the report file")
    options = parser.parse_args(argv)
    if options.duration < 1 or options.connections < 1 or options.rounds < 1 or options.alone_rounds < 1:
        parser.error("--duration, --rounds, --alone-rounds and --connections must be at least 1")
    options.alone_rounds = min(options.alone_rounds, options.rounds)
    if options.warmup is None:
        options.warmup = 2 if options.duration >= 6 else 1
    return options


def stage_costs(cores: Cores) -> list[dict[str, Any]]:
    """The stage microbenchmarks, in a child on the server core, as the servers ran."""
    completed = subprocess.run(  # preexec_fn is safe here: the harness starts no threads
        [python(), "-m", "bench.stages", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=300,
        **pinned_to(cores.server),
    )
    if completed.returncode != 0:
        raise BenchError(f"stage costs failed:\n{completed.stderr}")
    costs: list[dict[str, Any]] = json.loads(completed.stdout)
    return costs


def _terminate(signum: int, frame: FrameType | None) -> None:
    # A SIGTERM (CI timeout, kill) becomes an exception, so every finally block stops its servers.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        scenarios = select(options.scenarios.split(",") if options.scenarios else None)
        settings = Settings(
            duration_s=options.duration,
            rounds=options.rounds,
            alone_rounds=options.alone_rounds,
            warmup_s=options.warmup,
            connections=options.connections,
            generator=pick_generator(options.load_generator),
            profile_dir=options.profile,
        )
    except (ValueError, BenchError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    cores = Cores.detect()
    if cores.others is not None:
        os.sched_setaffinity(0, {cores.others})  # keep the harness itself off the server core
    steal_before, started = machine_steal_seconds(), time.monotonic()
    results: list[ScenarioResult] = []
    side_by_side: list[Together] = []
    fsync_p50_ms = float("nan")
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="callgate-bench-") as tmp, contextlib.ExitStack() as stack:
        context = Context(REPO_ROOT, Path(tmp), cores, read_demo_keys(REPO_ROOT))
        disk = DiskTurns(Path(tmp) / "fdatasync-probe", cores.server)  # beside G's segments
        try:
            running: list[Running] = []
            for scenario in scenarios:
                why = scenario.unavailable()
                if why is not None:
                    skipped[scenario.name] = why
                    print(f"bench: {scenario.name} skipped: {why}", file=sys.stderr)
                    continue
                print(f"bench: {scenario.name}: {scenario.description}", file=sys.stderr)
                running.append(start_scenario(scenario, context, stack))
            for number in range(1, settings.rounds + 1):
                alone = running if number <= settings.alone_rounds else []
                for each in alone:
                    measured = measure_round(each, context, settings)
                    print(
                        f"bench: round {number}/{settings.rounds} {each.scenario.name}: "
                        f"{measured.loaded.load.rps:,.0f} req/s at {settings.connections} connections, "
                        f"p50 {measured.single.load.p50_ms:.2f} ms at 1",
                        file=sys.stderr,
                    )
                together = measure_together(running, settings, cores.others, BASELINE, disk)
                side_by_side.append(together)
                print(
                    f"bench: round {number}/{settings.rounds} side by side: "
                    + ", ".join(f"{a}/{b} {together.ratio(a, b):.2f}" for a, b in together.pairs)
                    + " in requests per CPU-second; p50 in turns "
                    + ", ".join(f"{name} {load.p50_ms:.2f}" for name, load in together.single.items())
                    + (f", the disk's fdatasync {together.disk.p50_ms:.2f}" if together.disk else "")
                    + " ms",
                    file=sys.stderr,
                )
            results = [finish_scenario(each) for each in running]
            fsync_p50_ms = fdatasync_p50_ms(Path(tmp), cores.server)
            costs = None
            if not options.no_stages:
                print("bench: stage costs", file=sys.stderr)
                costs = stage_costs(cores)
        except BenchError as exc:
            print(f"bench: FAILED: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted; servers stopped", file=sys.stderr)
            return 130
        cpu_time = (time.monotonic() - started) * (os.cpu_count() or 1)
        steal = (machine_steal_seconds() - steal_before) / cpu_time if cpu_time else 0.0
        info = RunInfo(settings, cores.describe(), Path(tmp), skipped, steal, fsync_p50_ms)
        report = render(results, side_by_side, costs, info)
    print(report)
    options.output.write_text(report)
    print(f"bench: report written to {options.output}", file=sys.stderr)
    failed = sorted(
        {r.scenario.name for r in results if any(x.loaded.load.failures or x.single.load.failures for x in r.rounds)}
        | {name for t in side_by_side for name in t.failed()}
    )
    if failed:
        print(
            f"bench: FAILED: wrong answers under load in {', '.join(failed)}; see the failures column", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
