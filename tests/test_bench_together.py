"""The benchmark's side-by-side arithmetic and its latency client (no load: `make bench` runs the whole harness)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from bench.load import HttpRequest, LoadResult
from bench.loadgen import parse_head
from bench.processes import RECORD_LINE
from bench.report import verdicts
from bench.runner import Running, ScenarioResult
from bench.scenarios import Scenario, Target
from bench.together import Shared, Together, pairs_of
from bench.turns import Disk, pace_s, read_response


def load(requests: int, p50_ms: float = 1.0, failures: int = 0) -> LoadResult:
    return LoadResult("wrk", 32, 3.0, requests, p50_ms, 2 * p50_ms, failures, 0, 0)


def scenario(name: str, relative_to: tuple[str, float] | None = None) -> Scenario:
    def start(launch: object) -> Target:
        raise AssertionError("not started in these tests")

    return Scenario(name, name, start, is_gateway=name.startswith("G"), relative_to=relative_to)


def running(*scenarios: Scenario) -> list[Running]:
    target = Target(server=None, request=HttpRequest("GET", "http://x"), check=lambda s, b: None, marker=b"")  # type: ignore[arg-type]
    return [Running(s, launch=None, target=target) for s in scenarios]  # type: ignore[arg-type]


def test_each_scenario_is_paired_with_the_baseline_and_with_what_it_is_judged_against() -> None:
    scenarios = running(scenario("B1"), scenario("P"), scenario("G"), scenario("G_redis", ("G", 0.8)))
    names = [(a.scenario.name, b.scenario.name) for a, b in pairs_of(scenarios, "P")]
    assert names == [("B1", "P"), ("G", "P"), ("G_redis", "P"), ("G_redis", "G")]


def test_a_ratio_is_requests_per_cpu_second_of_the_pair_and_a_missing_pair_is_none() -> None:
    # G answered 300 requests in 1 s of CPU, P 1,000 in 1.25 s: 300 / 800 per CPU-second.
    together = Together({("G", "P"): (Shared(load(300), 1.0, 3.0), Shared(load(1000), 1.25, 3.0))}, {})
    assert together.ratio("G", "P") == pytest.approx(0.375)
    assert together.ratio("P", "G") is None
    assert together.pairs["G", "P"][0].core_share == pytest.approx(1 / 3)


def test_failures_in_any_side_by_side_measurement_name_their_scenario() -> None:
    together = Together(
        {("G", "P"): (Shared(load(10, failures=1), 1.0, 3.0), Shared(load(10), 1.0, 3.0))},
        {"G_pii": load(10, failures=2), "P": load(10)},
    )
    assert together.failed() == {"G", "G_pii"}


def test_the_targets_are_judged_on_the_median_of_the_side_by_side_rounds() -> None:
    results = [ScenarioResult(scenario(name), name, [], {name: 160.0}) for name in ("P", "G", "G_write")]

    def round_of(g_per_cpu_s: float, p_p50: float, g_p50: float, write_p50: float, sync_p50: float) -> Together:
        shares = (Shared(load(int(g_per_cpu_s)), 1.0, 3.0), Shared(load(1000), 1.0, 3.0))
        single = {"P": load(1, p_p50), "G": load(1, g_p50), "G_write": load(1, write_p50)}
        return Together({("G", "P"): shares}, single, load(1, sync_p50))

    rounds = [
        round_of(900, 0.30, 0.35, 0.33, 0.05),
        round_of(100, 0.30, 2.0, 0.90, 0.60),
        round_of(850, 0.30, 0.48, 0.36, 0.10),
    ]
    found = verdicts(results, rounds)
    throughput = next(v for v in found if v.target.startswith("G / P throughput"))
    assert throughput.figure == "0.85 (0.10-0.90)" and throughput.met  # the slow round is outvoted
    write = next(v for v in found if "durability write" in v.target)
    assert write.figure.startswith("1.20 (1.10-3.00)") and write.met
    fsync = next(v for v in found if "durability fsync" in v.target)
    # Per round, G over P + that round's fdatasync + 0.1 ms: 0.35 / 0.45, 2.0 / 1.0, 0.48 / 0.5.
    assert fsync.figure.startswith("G / (P + fdatasync + 0.1 ms) = 0.96 (0.78-2.00)") and fsync.met
    no_disk = verdicts(results, [Together(r.pairs, r.single) for r in rounds])
    assert next(v for v in no_disk if "durability fsync" in v.target).met is None  # not measured, not guessed


def test_the_disk_idles_between_syncs_for_the_median_round_trip_of_the_pace_setters_last_turn() -> None:
    latencies = [0.009, 0.001, 0.0012, 0.0014, 0.0011]  # the 9 ms one was the turn before
    assert pace_s(latencies, 1) == pytest.approx(0.00115)
    assert pace_s(latencies, 5) == 0.001  # no round trip yet: a millisecond


def test_the_disk_helper_appends_and_syncs_a_record_line_per_request_and_times_the_sync(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    disk = Disk(str(probe), None)
    try:
        for _ in range(3):
            disk.sync_once()
    finally:
        disk.close()
    assert len(disk.tally.latencies) == 3 and all(0 < s < 10 for s in disk.tally.latencies)
    assert probe.read_bytes() == RECORD_LINE * 3


def test_the_latency_client_reads_a_response_that_arrives_in_pieces() -> None:
    left, right = socket.socketpair()
    body = b'{"result": "ok"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)

    def answer() -> None:
        for piece in (head[:10], head[10:] + body[:3], body[3:]):
            right.sendall(piece)

    sender = threading.Thread(target=answer)
    sender.start()
    try:
        assert read_response(left) == (200, body, True)
    finally:
        sender.join()
        left.close()
        right.close()


def test_a_head_without_content_length_or_closing_is_told_apart() -> None:
    assert parse_head(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") == (503, 0, False)
    with pytest.raises(ValueError, match="Content-Length"):
        parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
