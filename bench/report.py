"""The report: where and when it ran, the measurements, the ratios against P with the targets, stage costs."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.launch import MEMORY_FS
from bench.load import LoadResult
from bench.processes import REPO_ROOT
from bench.runner import ScenarioResult, Settings, median_of
from bench.together import Together

# The targets. They are judged here, in the benchmark, and never asserted by the test suite.
THROUGHPUT_RATIO_MIN = 0.8  # G requests/s at 32 connections >= 0.8 x P's
P50_RATIO_MAX = 1.3  # G p50 at 1 connection <= 1.3 x P's
FSYNC_SLACK_MS = 0.1  # with durability fsync: G p50 <= P's + the disk's fdatasync p50 + this
RSS_MAX_MB = 250.0  # per gateway worker
BASELINE = "P"
NOISY_SHARE = 0.10  # other processes using more than a tenth of a core make a measurement suspect


@dataclass(frozen=True)
class RunInfo:
    settings: Settings
    placement: str
    audit_dir: Path
    skipped: dict[str, str]  # scenario -> why it could not run here
    steal_share: float  # hypervisor steal during the run, as a share of all the machine's CPU time
    fsync_p50_ms: float  # the disk's own append + fdatasync p50 where the audit segments live, back to back


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def ram_gib() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def filesystem_of(path: Path) -> str:
    """The type of the mount holding ``path``: an fsync on tmpfs costs nothing, on a disk it is the audit's floor."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in _read("/proc/mounts").splitlines():
        fields = line.split()
        if len(fields) < 3 or len(fields[1]) < len(best):
            continue
        if resolved == fields[1] or resolved.startswith(fields[1].rstrip("/") + "/"):
            best, kind = fields[1], fields[2]
    return kind


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain").strip() else "")


def wrk_version() -> str:
    try:
        completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    return (completed.stdout + completed.stderr).split("Copyright")[0].strip()


def versions() -> str:
    found = []
    for name in ("uvicorn", "starlette", "aiohttp", "httpx", "uvloop", "httptools"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (absent)")
    return ", ".join(found)


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _failures(loads: Sequence[LoadResult]) -> str:
    """Every round's failures together: one wrong answer in any round is one too many."""
    parts = [
        ("non-2xx", sum(x.non_2xx for x in loads)),
        ("wrong body", sum(x.bad_bodies for x in loads)),
        ("socket errors", sum(x.socket_errors for x in loads)),
    ]
    if not any(n for _, n in parts):
        return "0"
    return "**" + ", ".join(f"{n} {label}" for label, n in parts if n) + "**"


def _foreign(share: float) -> str:
    text = f"{100 * share:.0f} %"
    return f"**{text}**" if share > NOISY_SHARE else text


def _memory(result: ScenarioResult) -> str:
    def one(name: str, mb: float | None) -> str:
        mark = "*" if name == result.under_test else ""
        return f"{name}{mark} {mb:.0f}" if mb is not None else f"{name}{mark} ?"

    return ", ".join(one(name, mb) for name, mb in result.peak_rss_mb.items())


def spread(values: Sequence[float], digits: int = 2, *, thousands: bool = False) -> str:
    """The median, and the range of the rounds when there are several: ``0.91 (0.88-0.93)``."""
    form = f"{{:,.{digits}f}}" if thousands else f"{{:.{digits}f}}"
    if not values:
        return "?"
    text = form.format(median_of(values))
    return text if len(values) == 1 else f"{text} ({form.format(min(values))}-{form.format(max(values))})"


def measurements_table(results: list[ScenarioResult]) -> str:
    rows = [
        "| scenario | connections | requests/s | p50 ms | p99 ms | server CPU busy | server CPU µs per request "
        "| other processes' CPU (worst round) | failures | peak RSS MB per process |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for result in results:
        for which in ("loaded", "single"):
            measured = [getattr(r, which) for r in result.rounds]
            loads = [m.load for m in measured]
            rows.append(
                f"| {result.scenario.name} | {loads[0].connections} "
                f"| {spread([x.rps for x in loads], 0, thousands=True)} "
                f"| {spread([x.p50_ms for x in loads])} | {spread([x.p99_ms for x in loads])} "
                f"| {100 * median_of([m.server_busy for m in measured]):.0f} % "
                f"| {median_of([m.server_us_per_request for m in measured]):,.0f} "
                f"| {_foreign(max(m.foreign_share for m in measured))} | {_failures(loads)} | {_memory(result)} |"
            )
    return "\n".join(rows)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _throughput_ratios(rounds: Sequence[Together], mine: str, theirs: str) -> list[float]:
    """One ratio per round, from the pair's side-by-side measurement in that round."""
    return [r for r in (t.ratio(mine, theirs) for t in rounds) if r is not None]


def _p50(together: Together, name: str) -> float:
    return together.single[name].p50_ms


def _disk_in_turns(rounds: Sequence[Together]) -> str:
    syncs = [t.disk.p50_ms for t in rounds if t.disk is not None]
    return f"{spread(syncs)} ms" if syncs else "not measured (G did not run)"


def _p50_ratios(rounds: Sequence[Together], mine: str, theirs: str) -> list[float]:
    """One ratio per round, from the turns of that round."""
    return [
        _p50(t, mine) / _p50(t, theirs) if _p50(t, theirs) else float("nan")
        for t in rounds
        if mine in t.single and theirs in t.single
    ]


def side_by_side_table(rounds: Sequence[Together]) -> str:
    if not rounds:
        return "(not measured)"
    rows = [
        "| pair, loaded at once | requests per CPU-second: its throughput on a core of its own "
        "| ratio | shares of the server core | failures |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for mine, theirs in rounds[0].pairs:
        shared = [t.pairs[mine, theirs] for t in rounds]
        rows.append(
            f"| {mine} with {theirs} "
            f"| {spread([a.per_cpu_second for a, _ in shared], 0, thousands=True)} and "
            f"{spread([b.per_cpu_second for _, b in shared], 0, thousands=True)} "
            f"| {spread(_throughput_ratios(rounds, mine, theirs))} "
            f"| {100 * median_of([a.core_share for a, _ in shared]):.0f} % and "
            f"{100 * median_of([b.core_share for _, b in shared]):.0f} % "
            f"| {_failures([x.load for pair in shared for x in pair])} |"
        )
    rows += [
        "",
        "| scenario, one connection, in turns | p50 ms | p99 ms | failures |",
        "| --- | ---: | ---: | --- |",
    ]
    for name in rounds[0].single:
        single = [t.single[name] for t in rounds]
        rows.append(
            f"| {name} | {spread([x.p50_ms for x in single])} | {spread([x.p99_ms for x in single])} "
            f"| {_failures(single)} |"
        )
    disk = [t.disk for t in rounds if t.disk is not None]
    if disk:
        rows.append(
            f"| the disk: append + fdatasync, at G's pace | {spread([x.p50_ms for x in disk])} "
            f"| {spread([x.p99_ms for x in disk])} | |"
        )
    return "\n".join(rows)


def ratios_table(results: list[ScenarioResult], rounds: Sequence[Together]) -> str:
    names = [r.scenario.name for r in results]
    if BASELINE not in names:
        return f"(no ratios: scenario {BASELINE} was not run)"
    rows = [
        f"| scenario | throughput / {BASELINE}'s | p50 at 1 connection / {BASELINE}'s "
        "| peak RSS of the server under test |",
        "| --- | ---: | ---: | ---: |",
    ]
    for result in results:
        name = result.scenario.name
        if name == BASELINE:
            continue
        rss = result.peak_rss_mb.get(result.under_test)
        rows.append(
            f"| {name} | {spread(_throughput_ratios(rounds, name, BASELINE))} "
            f"| {spread(_p50_ratios(rounds, name, BASELINE))} "
            f"| {f'{rss:.0f} MB' if rss is not None else '?'} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True)
class Verdict:
    target: str
    figure: str
    met: bool | None  # None: not measured in this run


def verdicts(results: list[ScenarioResult], rounds: Sequence[Together]) -> list[Verdict]:
    """The performance issue's targets, each judged on the median of this run's side-by-side rounds."""
    by_name = {r.scenario.name: r for r in results}
    found: list[Verdict] = []

    def ratio(target: str, mine: str, theirs: str, minimum: float) -> None:
        a, b = by_name.get(mine), by_name.get(theirs)
        if a is None or b is None:
            found.append(Verdict(target, "(not run)", None))
            return
        values = _throughput_ratios(rounds, mine, theirs)
        found.append(Verdict(target, spread(values), median_of(values) >= minimum))

    if "G" in by_name:
        ratio(
            f"G / {BASELINE} throughput, {{c}} connections ≥ {THROUGHPUT_RATIO_MIN}",
            "G",
            BASELINE,
            THROUGHPUT_RATIO_MIN,
        )
    for scenario in (r.scenario for r in results):
        if scenario.relative_to is not None:
            other, minimum = scenario.relative_to
            ratio(f"{scenario.name} / {other} throughput, {{c}} connections ≥ {minimum}", scenario.name, other, minimum)
    base, write, fsync = by_name.get(BASELINE), by_name.get("G_write"), by_name.get("G")
    if base is not None and write is not None:
        values = _p50_ratios(rounds, "G_write", BASELINE)
        found.append(
            Verdict(
                f"p50 at 1 connection, durability write: G_write ≤ {P50_RATIO_MAX} x {BASELINE}",
                f"{spread(values)} x {BASELINE}",
                median_of(values) <= P50_RATIO_MAX,
            )
        )
    if base is not None and fsync is not None:
        # Per round: G's p50 against P's plus the disk's fdatasync p50 at G's pace, in the same turns.
        measured = [
            (t, t.disk.p50_ms) for t in rounds if t.disk is not None and "G" in t.single and BASELINE in t.single
        ]
        over = [_p50(t, "G") / (_p50(t, BASELINE) + sync + FSYNC_SLACK_MS) for t, sync in measured]
        excess = [_p50(t, "G") - _p50(t, BASELINE) for t, _ in measured]
        syncs = [sync for _, sync in measured]
        found.append(
            Verdict(
                f"p50 at 1 connection, durability fsync: G ≤ {BASELINE} + the disk's fdatasync p50 "
                f"(in the same turns, at G's pace) + {FSYNC_SLACK_MS} ms",
                f"G / ({BASELINE} + fdatasync + {FSYNC_SLACK_MS} ms) = {spread(over)} "
                f"(G - {BASELINE} {median_of(excess):.2f} ms, fdatasync {median_of(syncs):.2f} ms)",
                median_of(over) <= 1.0 if over else None,
            )
        )
    peaks = [r.peak_rss_mb.get(r.under_test) for r in results if r.scenario.is_gateway]
    known = [peak for peak in peaks if peak is not None]
    if known:
        found.append(
            Verdict(
                f"peak RSS of one gateway worker, PII loaded ≤ {RSS_MAX_MB:.0f} MB",
                f"{max(known):.0f} MB (largest of the gateway scenarios)",
                max(known) <= RSS_MAX_MB,
            )
        )
    return found


def targets_table(results: list[ScenarioResult], rounds: Sequence[Together], connections: int) -> str:
    rows = ["| target | this run: median (min-max of the rounds) | |", "| --- | --- | --- |"]
    for verdict in verdicts(results, rounds):
        judged = "(not measured)" if verdict.met is None else _met(verdict.met)
        rows.append(f"| {verdict.target.replace('{c}', str(connections))} | {verdict.figure} | {judged} |")
    return "\n".join(rows)


#: The audit issue's target: the hash chain costs under this share of G's throughput.
CHAIN_SHARE_MAX = 0.05


def chain_cost(results: list[ScenarioResult], costs: list[dict[str, Any]] | None) -> str:
    """The chain's share of G: its sealing work per record against G's server CPU per request.

    G is CPU-bound at the full connection count (its server core near 100 % busy), so throughput is
    the inverse of CPU per request, and work added per request costs throughput in that proportion.
    """
    g = next((r for r in results if r.scenario.name == "G"), None)
    seal = next((c for c in costs or [] if c["stage"] == "audit chain" and c["measured"].startswith("seal")), None)
    if g is None or seal is None or not g.loaded.server_us_per_request:
        return "(not measured: needs G and the stage costs)"
    share = seal["us_per_call"] / g.loaded.server_us_per_request
    return (
        f"Sealing a record into the chain (RFC 8785 canonical JSON, SHA-256, seq and prev) costs "
        f"{seal['us_per_call']:.1f} µs on the writer thread; G spends {g.loaded.server_us_per_request:.0f} µs "
        f"of server CPU per request at {g.scenario.name}'s full load, where CPU sets its pace: the chain costs "
        f"{100 * share:.1f} % of G's throughput (target < {100 * CHAIN_SHARE_MAX:.0f} %: "
        f"{'met' if share < CHAIN_SHARE_MAX else '**not met**'}). Checkpoints add one HMAC per 1,000 records."
    )


def stage_table(costs: list[dict[str, Any]] | None) -> str:
    if costs is None:
        return "(not measured: --no-stages)"
    rows = ["| stage | what is measured | µs per call |", "| --- | --- | ---: |"]
    rows += [f"| {c['stage']} | {c['measured']} | {c['us_per_call']:,.1f} |" for c in costs]
    return "\n".join(rows)


def render(
    results: list[ScenarioResult],
    rounds: Sequence[Together],
    costs: list[dict[str, Any]] | None,
    info: RunInfo,
) -> str:
    settings = info.settings
    generator = f"wrk ({wrk_version()}, one thread)" if settings.generator == "wrk" else "built-in asyncio generator"
    lines = [
        "# callgate benchmark",
        "",
        "Written by `make bench` (`python -m bench`); every run replaces this file.",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {git_commit()}",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, {ram_gib()} RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}",
        f"- stack: {versions()}",
        f"- load: {generator}, {settings.connections} connections and 1 connection, "
        f"{settings.duration_s} s per measurement after a {settings.warmup_s} s warm-up, loopback, "
        f"{settings.rounds} rounds side by side, the first {settings.alone_rounds} of them measuring every "
        "scenario alone first (interleaved: every scenario once per round); figures are medians (min-max)",
        f"- the disk's own append + fdatasync p50 where the audit segments live: {_disk_in_turns(rounds)} in the "
        "turns, from the server core, each sync after an idle as long as G_write's last turn's p50 (the pace of "
        "G's syncs at one connection: a virtual disk answers a sync after a pause more slowly, and the fsync "
        f"target allows G this one); {info.fsync_p50_ms:.2f} ms back to back, after the rounds, for comparison",
        f"- placement: {info.placement}",
        f"- audit segments of G on {filesystem_of(info.audit_dir)} (audit.durability: fsync, as shipped); "
        f"G_write's (durability: write, never synced) on {filesystem_of(MEMORY_FS)} where there is one, "
        "so that their page-cache backlog is not written out by G's journal commits, inside G's latency",
        f"- hypervisor steal during the run: {100 * info.steal_share:.1f} % of the CPU time "
        "(above a few percent, a neighbouring VM slowed this one and the figures are suspect)",
        "",
        "## Scenarios",
        "",
        *[f"- **{r.scenario.name}**: {r.scenario.description}" for r in results],
        *[f"- **{name}**: skipped, {why}" for name, why in info.skipped.items()],
        "",
        "## Throughput and latency",
        "",
        'Every request is `tools/call crm.get_customer {"customer_id": "C1001"}` or, for B1, its backend request;',
        "G_pii's is `tools/call support.open_ticket` with a ticket of about 1 KB (its answer: about 2 KB).",
        "Failures count non-2xx answers, answers whose body is not the expected result, and socket errors.",
        "Server CPU is the user + system time of the server under test during the measurement:",
        "busy near 100 % means it, not the load generator or the backend, set the pace.",
        "Other processes' CPU is what the machine spent outside the benchmark's own processes, in share of one core;",
        f"above {100 * NOISY_SHARE:.0f} % (bold) another job competed for the cores and the row is suspect.",
        "Peak RSS is VmHWM over the scenario's whole life; `*` marks the server under test.",
        "",
        measurements_table(results),
        "",
        "## Side by side",
        "",
        "The figures above come from each scenario measured alone, one after another; the core's own speed",
        "moves by tens of percent between such measurements here, so the ratios are taken side by side instead",
        "(bench.together), at the same moments. Throughput: the two scenarios of each ratio loaded at once "
        f"({settings.connections} connections each),",
        "their servers under test sharing the server core; each is saturated, so it answers as many requests",
        "per CPU-second as its cost allows, which is its throughput on a core of its own. Latency: one",
        "connection to every server, one request at a time, the servers taking turns of 0.1 s, so each answers",
        "alone; when G runs, the disk takes turns with them (append + fdatasync at G's pace, what the fsync",
        "target allows G, sampled in the same moments as G). Each round: every pair loaded for "
        f"{settings.duration_s} s, then the turns for {settings.duration_s} s per scenario; figures are medians "
        "(min-max).",
        "",
        side_by_side_table(rounds),
        "",
        "## Targets",
        "",
        f"Each ratio is computed within a round, from the side-by-side measurement, and the median of the "
        f"{settings.rounds} rounds is judged; the range shows how much the rounds disagreed.",
        "",
        targets_table(results, rounds, settings.connections),
        "",
        f"## Against {BASELINE}",
        "",
        "Side by side: throughput at the full connection count; latency at one connection, where nothing queues.",
        "",
        ratios_table(results, rounds),
        "",
        "## The audit chain's cost",
        "",
        chain_cost(results, costs),
        "",
        "## Stage costs",
        "",
        "Per-call work of each stage, in process, no network (`python -m bench.stages`), on the server core.",
        "The pipeline rows run every stage on an in-process tool; the app rows add what the ASGI app does around",
        "it (edge middleware, routing, the /rpc endpoint, authentication, JSON-RPC). What G's CPU per request",
        "adds to the app row is uvicorn's HTTP handling and the upstream call.",
        "",
        stage_table(costs),
        "",
    ]
    profiled = [r for r in results if r.hot_spots]
    if profiled:
        lines += ["## Hot spots (py-spy, loaded measurement)", ""]
        for result in profiled:
            lines += [f"### {result.scenario.name} ({result.under_test})", "", str(result.hot_spots), ""]
    return "\n".join(lines)
