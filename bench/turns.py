"""Latency in turns: ``python -m bench.turns < spec.json``.

One keep-alive connection to every server, one request at a time, and the
servers take turns: a tenth of a second of requests back to back to P, then to
G, to G_write, ..., then to P again. Each server answers alone (nothing queues,
as at one connection), and a slow stretch of the machine falls on every
server's samples alike, so the ratios of their p50s hold still from run to run
even where the machine's own speed does not. Turns of single requests would
not do: every answer would then start in caches the other servers just used,
which slows each by about as much as P's whole latency.

The disk takes turns too, when the spec names one: a helper process on the
server core appends an audit-sized line and fdatasyncs it, timing the sync
itself, then the disk idles for as long as the spec's ``pace_of`` server took
per request in its last turn (G_write: G's round trip without its sync wait),
and again until its turn ends. That is the fdatasync the fsync target allows G,
sampled in the same moments as G, at G's pace: a virtual disk answers a sync
after a pause several times more slowly than one of a back-to-back stream, and
from one minute to the next its speed moves as much as G's does.

Plain blocking sockets with Nagle off: the client's own time per request is a
few microseconds of the measured latency, the same for every server. It checks
every answer (2xx and the marker) and prints JSON on stdout.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.loadgen import Tally, parse_head, raw_request, summary
from bench.processes import append_and_sync, pinned_to

#: The name the disk's figures go under, beside the servers'.
DISK = "disk"

#: How long each server's turn lasts: long enough that its first, cold answers do not move its p50.
TURN_S = 0.1


@dataclass
class Connection:
    """One server's keep-alive connection and what its answers came to."""

    host: str
    port: int
    request: bytes
    marker: bytes
    sock: socket.socket | None = None
    tally: Tally = field(default_factory=Tally)

    def connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=10)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def request_once(self) -> None:
        try:
            sock = self.connect()
            started = time.perf_counter()
            sock.sendall(self.request)
            status, body, keep_alive = read_response(sock)
            self.tally.latencies.append(time.perf_counter() - started)
        except (OSError, ValueError):
            self.tally.socket_errors += 1
            self.close()
            time.sleep(0.01)
            return
        if not 200 <= status < 300:
            self.tally.non_2xx += 1
        elif self.marker not in body:
            self.tally.bad_bodies += 1
        if not keep_alive:
            self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def read_response(sock: socket.socket) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open (Content-Length bodies only)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("the server closed the connection mid-answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, length, keep_alive = parse_head(head)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("the server closed the connection mid-answer")
        body += chunk
    return status, body, keep_alive


class Disk:
    """The disk's turns: a helper on ``core`` appends and fdatasyncs ``path`` on request, timing the sync."""

    def __init__(self, path: str, core: int | None) -> None:
        self.tally = Tally()
        self._helper = subprocess.Popen(  # preexec_fn is safe here: this client starts no threads
            [sys.executable, "-m", "bench.turns", "--disk", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            **pinned_to(core),
        )

    def sync_once(self) -> None:
        assert self._helper.stdin is not None and self._helper.stdout is not None
        self._helper.stdin.write(b"s")
        answer = self._helper.stdout.read(8)
        if len(answer) != 8:
            raise RuntimeError(f"the fdatasync helper stopped (status {self._helper.wait()})")
        self.tally.latencies.append(struct.unpack("d", answer)[0])

    def take_turn(self, turn_s: float, pace_s: float) -> None:
        turn_ends = time.perf_counter() + turn_s
        while time.perf_counter() < turn_ends:
            self.sync_once()
            time.sleep(pace_s)

    def close(self) -> None:
        assert self._helper.stdin is not None and self._helper.stdout is not None
        self._helper.stdin.close()  # the helper ends at end of input
        self._helper.wait(10)
        self._helper.stdout.close()


def serve_syncs(path: Path, requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper's side: for every byte read, append one record line to ``path``, fdatasync, answer its time."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while requests.read(1):
            answers.write(struct.pack("d", append_and_sync(fd)))
            answers.flush()
    finally:
        os.close(fd)


def pace_s(latencies: list[float], turn_started: int) -> float:
    """The median of one turn's round trips (those from index ``turn_started`` on); 1 ms before any."""
    recent = latencies[turn_started:]
    return statistics.median(recent) if recent else 0.001


def take_turns(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    connections: dict[str, Connection] = {}
    for name, target in spec["targets"].items():
        host, port, request = raw_request(target["method"], target["url"], target["headers"], target["body"].encode())
        connections[name] = Connection(host, port, request, target["marker"].encode())
    disk_spec = spec.get("disk")
    disk = Disk(disk_spec["path"], disk_spec["core"]) if disk_spec else None
    paced_by = connections[disk_spec["pace_of"]] if disk_spec else None
    started = time.perf_counter()
    deadline = started + spec["duration_s"]
    turn_s = spec.get("turn_s", TURN_S)
    try:
        while time.perf_counter() < deadline:
            turn_started = 0
            for connection in connections.values():
                if connection is paced_by:
                    turn_started = len(connection.tally.latencies)
                turn_ends = time.perf_counter() + turn_s
                while time.perf_counter() < turn_ends:
                    connection.request_once()
            if disk is not None and paced_by is not None:
                disk.take_turn(turn_s, pace_s(paced_by.tally.latencies, turn_started))
    finally:
        if disk is not None:
            disk.close()
    elapsed = time.perf_counter() - started
    for connection in connections.values():
        connection.close()
    figures = {name: summary(connection.tally, elapsed) for name, connection in connections.items()}
    if disk is not None:
        figures[DISK] = summary(disk.tally, elapsed)
    return figures


def main() -> None:
    if sys.argv[1:2] == ["--disk"]:
        serve_syncs(Path(sys.argv[2]), sys.stdin.buffer, sys.stdout.buffer)
        return
    json.dump(take_turns(json.loads(sys.stdin.read())), sys.stdout)


if __name__ == "__main__":
    main()
