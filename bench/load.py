"""Load generation: wrk when it is installed, else the built-in asyncio generator (:mod:`bench.loadgen`).

Either way the generator is a separate process pinned to its own core, holds a
fixed number of keep-alive connections for a fixed time, and checks every
response: a 2xx status and a marker that only a correct body contains. A tool
gateway answers a refused call with HTTP 200 and a JSON-RPC error, so the status
alone would let a run of refusals pass for a fast gateway.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import REPO_ROOT, BenchError, pinned_to, python


@dataclass(frozen=True)
class HttpRequest:
    """The one request a measurement sends over and over."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class LoadResult:
    generator: str
    connections: int
    duration_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    non_2xx: int
    bad_bodies: int
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failures(self) -> int:
        return self.non_2xx + self.bad_bodies + self.socket_errors


def pick_generator(choice: str) -> str:
    """``wrk`` or ``python``; ``auto`` prefers wrk, the issue's load generator."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        raise BenchError("--load-generator wrk, but wrk is not installed (apt-get install wrk)")
    return choice


def run_load(
    generator: str, request: HttpRequest, marker: bytes, connections: int, duration_s: int, core: int | None
) -> LoadResult:
    if generator == "wrk":
        return _run_wrk(request, marker, connections, duration_s, core)
    return _run_python(request, marker, connections, duration_s, core)


# The script sets the request and counts wrong answers per thread; done() sums them over the threads
# (wrk's documented setup/get pattern) and prints exact figures, so no human-oriented output is parsed.
_WRK_SCRIPT = """\
wrk.method = {method}
wrk.body = {body}
{headers}
local marker = {marker}
local threads = {{}}
non2xx = 0
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status < 200 or status >= 300 then
    non2xx = non2xx + 1
  elseif not string.find(body, marker, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total, bad_total = 0, 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    bad_total = bad_total + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d bad=%d socket_errors=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    non2xx_total, bad_total, e.connect + e.read + e.write + e.timeout))
end
"""


def _lua_string(value: bytes) -> str:
    """A Lua long-bracket literal holding ``value`` verbatim, whatever brackets it contains."""
    text = value.decode()
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def wrk_script(request: HttpRequest, marker: bytes) -> str:
    headers = "\n".join(
        f"wrk.headers[ {_lua_string(k.encode())} ] = {_lua_string(v.encode())}" for k, v in request.headers.items()
    )
    return _WRK_SCRIPT.format(
        method=_lua_string(request.method.encode()),
        body=_lua_string(request.body) if request.body else "nil",
        headers=headers,
        marker=_lua_string(marker),
    )


def _run_wrk(request: HttpRequest, marker: bytes, connections: int, duration_s: int, core: int | None) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="callgate-bench-wrk-") as tmp:
        script = Path(tmp) / "request.lua"
        script.write_text(wrk_script(request, marker))
        # One wrk thread: the load generator gets one core, and one epoll thread saturates it.
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency", "-s", str(script), request.url]
        completed = subprocess.run(  # preexec_fn is safe here: the harness starts no threads
            argv, capture_output=True, text=True, timeout=duration_s + 60, check=False, **pinned_to(core)
        )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if completed.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (status {completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    figures = dict(item.split("=", 1) for item in line.split()[1:])
    return LoadResult(
        generator="wrk",
        connections=connections,
        duration_s=int(figures["duration_us"]) / 1e6,
        requests=int(figures["requests"]),
        p50_ms=int(figures["p50_us"]) / 1000,
        p99_ms=int(figures["p99_us"]) / 1000,
        non_2xx=int(figures["non2xx"]),
        bad_bodies=int(figures["bad"]),
        socket_errors=int(figures["socket_errors"]),
    )


def _run_python(request: HttpRequest, marker: bytes, connections: int, duration_s: int, core: int | None) -> LoadResult:
    spec = {
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "body": request.body.decode(),
        "marker": marker.decode(),
        "connections": connections,
        "duration_s": duration_s,
    }
    completed = subprocess.run(  # preexec_fn is safe here: the harness starts no threads
        [python(), "-m", "bench.loadgen"],
        input=json.dumps(spec),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
        **pinned_to(core),
    )
    if completed.returncode != 0:
        raise BenchError(f"the asyncio load generator failed (status {completed.returncode}):\n{completed.stderr}")
    figures = json.loads(completed.stdout)
    return LoadResult(generator="python", connections=connections, **figures)
