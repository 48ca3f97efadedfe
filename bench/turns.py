"""Latency in turns: ``python -m bench.turns < spec.json``.

One keep-alive connection to every server, one request at a time, and the
servers take turns: a tenth of a second of requests back to back to P, then to
G, to G_write, ..., then to P again. Each server answers alone (nothing queues,
as at one connection), and a slow stretch of the machine falls on every
server's samples alike, so the ratios of their p50s hold still from run to run
even where the machine's own speed does not. Turns of single requests would
not do: every answer would then start in caches the other servers just used,
which slows each by about as much as P's whole latency.

Plain blocking sockets with Nagle off: the client's own time per request is a
few microseconds of the measured latency, the same for every server. It checks
every answer (2xx and the marker) and prints JSON on stdout.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import Tally, parse_head, raw_request, summary

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


def take_turns(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    connections: dict[str, Connection] = {}
    for name, target in spec["targets"].items():
        host, port, request = raw_request(target["method"], target["url"], target["headers"], target["body"].encode())
        connections[name] = Connection(host, port, request, target["marker"].encode())
    started = time.perf_counter()
    deadline = started + spec["duration_s"]
    turn_s = spec.get("turn_s", TURN_S)
    while time.perf_counter() < deadline:
        for connection in connections.values():
            turn_ends = time.perf_counter() + turn_s
            while time.perf_counter() < turn_ends:
                connection.request_once()
    elapsed = time.perf_counter() - started
    for connection in connections.values():
        connection.close()
    return {name: summary(connection.tally, elapsed) for name, connection in connections.items()}


def main() -> None:
    json.dump(take_turns(json.loads(sys.stdin.read())), sys.stdout)


if __name__ == "__main__":
    main()
