"""The built-in load generator, for machines without wrk: ``python -m bench.loadgen < spec.json``.

Raw HTTP/1.1 over asyncio streams (on uvloop when installed), one keep-alive
connection per worker, each sending the same request back to back for a fixed
time. An HTTP client library would cost more CPU per request than the servers
it measures; this does only what a response needs: the status line, the
Content-Length and the body. It prints its figures as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds
    non_2xx: int = 0
    bad_bodies: int = 0
    socket_errors: int = 0


def summary(tally: Tally, elapsed_s: float) -> dict[str, Any]:
    """The figures a generator prints (bench.load.LoadResult's fields but the generator and connections)."""
    samples = tally.latencies
    quantiles = statistics.quantiles(samples, n=100) if len(samples) > 1 else [0.0] * 99
    return {
        "duration_s": elapsed_s,
        "requests": len(samples),
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "non_2xx": tally.non_2xx,
        "bad_bodies": tally.bad_bodies,
        "socket_errors": tally.socket_errors,
    }


def raw_request(method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[str, int, bytes]:
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    path = (target.path or "/") + (f"?{target.query}" if target.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """A response head's status, Content-Length and whether the server keeps the connection open."""
    status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    length, keep_alive = None, True
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
    if length is None:
        raise ValueError("response without Content-Length (chunked bodies are not supported here)")
    return int(status_line.split()[1]), length, keep_alive


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open."""
    status, length, keep_alive = parse_head(await reader.readuntil(b"\r\n\r\n"))
    return status, await reader.readexactly(length), keep_alive


async def worker(host: str, port: int, request: bytes, marker: bytes, deadline: float, tally: Tally) -> None:
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.perf_counter() < deadline:
        try:
            if connection is None:
                connection = await asyncio.open_connection(host, port)
            reader, writer = connection
            started = time.perf_counter()
            writer.write(request)
            status, body, keep_alive = await read_response(reader)
            tally.latencies.append(time.perf_counter() - started)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            tally.socket_errors += 1
            connection = None
            await asyncio.sleep(0.01)  # a refused connection must not become a busy loop
            continue
        if not 200 <= status < 300:
            tally.non_2xx += 1
        elif marker not in body:
            tally.bad_bodies += 1
        if not keep_alive:
            writer.close()
            connection = None
    if connection is not None:
        connection[1].close()


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, request = raw_request(spec["method"], spec["url"], spec["headers"], spec["body"].encode())
    tally = Tally()
    started = time.perf_counter()
    deadline = started + spec["duration_s"]
    marker = spec["marker"].encode()
    await asyncio.gather(*(worker(host, port, request, marker, deadline, tally) for _ in range(spec["connections"])))
    return summary(tally, time.perf_counter() - started)


def main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(generate(spec))
    else:
        result = uvloop.run(generate(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
