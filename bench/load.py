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


class RunningLoad:
    """A load generator process started and not yet waited for: several run side by side (bench.together)."""

    def __init__(self, generator: str, connections: int, process: subprocess.Popen[str], tmp: Path | None) -> None:
        self.generator, self.connections, self._process, self._tmp = generator, connections, process, tmp

    def result(self, timeout_s: float) -> LoadResult:
        try:
            stdout, stderr = self._process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            stdout, stderr = self._process.communicate()
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
        if self.generator == "wrk":
            return _wrk_result(self.connections, self._process.returncode, stdout, stderr)
        if self._process.returncode != 0:
            raise BenchError(f"the asyncio load generator failed (status {self._process.returncode}):\n{stderr}")
        return LoadResult(generator="python", connections=self.connections, **json.loads(stdout))


def start_load(
    generator: str, request: HttpRequest, marker: bytes, connections: int, duration_s: int, core: int | None
) -> RunningLoad:
    """Start a load generator pinned to ``core``; :meth:`RunningLoad.result` waits for its figures."""
    if generator == "wrk":
        tmp = Path(tempfile.mkdtemp(prefix="callgate-bench-wrk-"))
        script = tmp / "request.lua"
        script.write_text(wrk_script(request, marker))
        # One wrk thread: the load generator gets one core, and one epoll thread saturates it.
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency", "-s", str(script), request.url]
        process = subprocess.Popen(  # preexec_fn is safe here: the harness starts no threads
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **pinned_to(core)
        )
        return RunningLoad(generator, connections, process, tmp)
    spec = {
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "body": request.body.decode(),
        "marker": marker.decode(),
        "connections": connections,
        "duration_s": duration_s,
    }
    tmp = Path(tempfile.mkdtemp(prefix="callgate-bench-loadgen-"))
    (tmp / "spec.json").write_text(json.dumps(spec))
    with open(tmp / "spec.json", "rb") as spec_file:
        process = subprocess.Popen(  # preexec_fn is safe here: the harness starts no threads
            [python(), "-m", "bench.loadgen"],
            stdin=spec_file,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            text=True,
            **pinned_to(core),
        )
    return RunningLoad(generator, connections, process, tmp)


def run_load(
    generator: str, request: HttpRequest, marker: bytes, connections: int, duration_s: int, core: int | None
) -> LoadResult:
    return start_load(generator, request, marker, connections, duration_s, core).result(duration_s + 60)


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


def _wrk_result(connections: int, status: int, stdout: str, stderr: str) -> LoadResult:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH ")), None)
    if status != 0 or line is None:
        raise BenchError(f"wrk failed (status {status}):\n{stdout}\n{stderr}")
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
