"""``--profile DIR``: sample the server under test with py-spy during the loaded measurement.

py-spy writes collapsed stacks (``DIR/<scenario>.txt``, the input of any flame
graph tool); this module sums them into the hot spots the report shows: self
time by function, inclusive time by function, and self time by package. The
sampler runs non-blocking (it never pauses the server) on the load generator's
core, so the figures of a profiled run stay close to an unprofiled one.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
from pathlib import Path

from bench.processes import BenchError, pinned_to, venv_script

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::-?\d+)?\)$")
_TOP = 15
#: Without --native, time in uvloop's C event loop (epoll, callbacks, socket writes) shows as this frame's own.
_EVENT_LOOP = "Runner.run (asyncio/runners.py)"
_PROJECT = ("gateway/", "bench/")


def _frame_name(frame: str) -> tuple[str, str]:
    """``function (file)`` without the line number, and the file (py-spy already shortens paths)."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return f"{match['function']} ({match['file']})", match["file"]


def _package(file: str) -> str:
    """Top-level package, but callgate's own modules one by one: they are what the performance work changes."""
    if file.startswith(_PROJECT):
        return file.removesuffix(".py")
    head = file.split("/", 1)[0]
    return head.removesuffix(".py")


def summarize(collapsed: str) -> str:
    """Markdown tables: self time by package, by function, and inclusive time of callgate's own functions."""
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        leaf, leaf_file = frames[-1]
        if leaf == _EVENT_LOOP:
            leaf, leaf_file = "event loop: uvloop's C code, system calls", "uvloop"
        self_time[leaf] += count
        packages[_package(leaf_file)] += count
        for name in {name for name, file in frames if file.startswith(_PROJECT)}:
            inclusive[name] += count
    if not total:
        return "(no samples)"

    def table(title: str, counter: collections.Counter[str]) -> str:
        rows = [f"| {title} | share of samples |", "| --- | ---: |"]
        rows += [f"| `{name}` | {100 * count / total:.1f} % |" for name, count in counter.most_common(_TOP)]
        return "\n".join(rows)

    return "\n\n".join(
        [
            f"{total} samples of whichever server thread held the GIL (py-spy --gil, non-blocking): time in C "
            "code counts for the Python frame that called it; waiting without the GIL (fsync, epoll) does not count.",
            table("self time, by package (callgate by module)", packages),
            table("self time, by function", self_time),
            table("inclusive time, callgate's own functions", inclusive),
        ]
    )


class Profiler:
    def __init__(self, directory: Path, scenario: str) -> None:
        self._py_spy = _py_spy()
        if self._py_spy is None:
            raise BenchError("--profile needs py-spy (pip install py-spy)")
        directory.mkdir(parents=True, exist_ok=True)
        self.output = directory / f"{scenario}.txt"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, pid: int, duration_s: int, core: int | None) -> None:
        argv = [str(self._py_spy), "record", "--pid", str(pid), "--duration", str(duration_s), "--rate", "200"]
        argv += ["--nonblocking", "--gil", "--format", "raw", "--output", str(self.output)]
        # preexec_fn is safe here: the harness starts no threads
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **pinned_to(core))

    def finish(self) -> str:
        if self._process is None:
            return "(not profiled)"
        try:
            _, stderr = self._process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, stderr = self._process.communicate()
        if not self.output.exists():
            return f"(py-spy failed: {stderr.decode(errors='replace').strip()[-300:]})"
        return summarize(self.output.read_text())


def _py_spy() -> str | None:
    installed = Path(venv_script("py-spy"))
    return str(installed) if installed.exists() else shutil.which("py-spy")
