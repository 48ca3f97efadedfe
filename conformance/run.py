"""``make conformance``: the official MCP conformance suite against a real ``callgate serve``.

Starts callgate on a free loopback port with the configuration in
``conformance/config`` (the suite's fixture tools, in-process, behind the whole
pipeline), runs the suite's server requirement sets for 2025-11-25 and
2026-07-28, and fails on any failure that ``conformance/baseline.yaml`` does
not expect, and on any expected failure that now passes (the suite's own
``--expected-failures`` rules). Every baseline entry must name a capability
callgate does not offer and say why; anything else is refused before the run.

Results and the server's log go to ``var/conformance/``.

    python conformance/run.py --node NODE --suite SUITE_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from gateway.serving import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REVISIONS = ("2025-11-25", "2026-07-28")
#: What a tool gateway does not offer: the only capabilities a baseline entry may name.
NOT_OFFERED = frozenset({"prompts", "resources", "sampling", "elicitation", "roots", "logging", "completions", "tasks"})


class BaselineError(Exception):
    """The baseline file holds an entry the rules do not allow."""


def load_baseline(path: Path) -> dict[str, list[str]]:
    """The expected failures per revision, as the suite names them; BaselineError for a bad entry."""
    # str(): YAML reads an unquoted 2025-11-25 as a date.
    data = {str(key): value for key, value in (yaml.safe_load(path.read_text()) or {}).items()}
    expected: dict[str, list[str]] = {}
    for revision in REVISIONS:
        entries = data.get(revision) or []
        names: list[str] = []
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) != {"check", "capability", "reason"}:
                raise BaselineError(f"{revision}: each entry has exactly check, capability and reason: {entry!r}")
            if entry["capability"] not in NOT_OFFERED:
                raise BaselineError(
                    f"{revision}: {entry['check']}: {entry['capability']!r} is not a capability callgate leaves out "
                    f"(allowed: {', '.join(sorted(NOT_OFFERED))})"
                )
            if not str(entry["reason"]).strip():
                raise BaselineError(f"{revision}: {entry['check']}: the reason is empty")
            names.append(str(entry["check"]))
        if len(set(names)) != len(names):
            raise BaselineError(f"{revision}: an entry is listed twice")
        expected[revision] = names
    unknown = set(data) - set(REVISIONS)
    if unknown:
        raise BaselineError(f"unknown revisions in the baseline: {sorted(unknown)}")
    return expected


def scored_scenarios(suite: Path, revision: str) -> list[str]:
    """The server scenarios the revision's frozen requirement set scores."""
    requirements = yaml.safe_load((suite / "requirements" / f"{revision}.yaml").read_text())
    return list(requirements["server"])


def summarize(results: Path, scored: list[str]) -> dict[str, Any]:
    """Scenario and check counts over the scored scenarios of one run."""
    verdicts: dict[str, bool] = {}
    checks = {"checks_passed": 0, "checks_failed": 0}
    for directory in sorted(results.iterdir()):
        if not directory.is_dir() or not (directory / "checks.json").exists():
            continue
        scenario = next((name for name in scored if directory.name.startswith(f"server-{name}-")), None)
        if scenario is None:
            continue
        statuses = [check["status"] for check in json.loads((directory / "checks.json").read_text())]
        checks["checks_passed"] += statuses.count("SUCCESS")
        checks["checks_failed"] += statuses.count("FAILURE")
        verdicts[scenario] = "FAILURE" not in statuses
    passed = sorted(name for name, ok in verdicts.items() if ok)
    return {"scenarios": len(scored), "passed": len(passed), "failing": sorted(set(scored) - set(passed)), **checks}


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"callgate serve exited with {server.returncode}; see var/conformance/serve.log")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 (a loopback URL we built)
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("callgate serve did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", required=True, help="a Node 22 binary")
    parser.add_argument("--suite", required=True, type=Path, help="the installed @modelcontextprotocol/conformance")
    parser.add_argument("--baseline", type=Path, default=HERE / "baseline.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "conformance")
    args = parser.parse_args()
    try:
        expected = load_baseline(args.baseline)
    except BaselineError as exc:
        print(f"conformance: {args.baseline}: {exc}", file=sys.stderr)
        return 2
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CALLGATE_AUDIT_DIR": str(args.out / "audit")}
    env.pop("CALLGATE_REDIS_URL", None)  # the embedded store: the suite needs nothing else
    command = [sys.executable, "-m", "gateway", "serve", "--config-dir", str(HERE / "config"), "--port", str(port)]
    with (args.out / "serve.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            wait_ready(base, server)
            outcome = 0
            for revision in REVISIONS:
                outcome |= run_revision(args, revision, expected[revision], f"{base}/mcp")
        finally:
            server.terminate()
            server.wait(timeout=30)
    return outcome


def run_revision(args: argparse.Namespace, revision: str, expected: list[str], url: str) -> int:
    baseline = args.out / f"expected-failures-{revision}.yaml"
    baseline.write_text(yaml.safe_dump({"server": expected}))
    results = args.out / revision
    command = [args.node, str(args.suite / "dist" / "index.js"), "server", "--url", url, "--requirements", revision]
    command += ["--expected-failures", str(baseline), "-o", str(results)]
    with (args.out / f"{revision}.log").open("wb") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode  # noqa: S603
    summary = summarize(results, scored_scenarios(args.suite, revision))
    verdict = "ok" if code == 0 else f"FAILED (suite exit {code}; see {args.out / revision}.log)"
    print(
        f"conformance {revision}: {summary['passed']}/{summary['scenarios']} scored scenarios pass "
        f"({summary['checks_passed']} checks passed, {summary['checks_failed']} failed); "
        f"baseline: {len(expected)} expected failures; {verdict}"
    )
    if summary["failing"]:
        print(f"  failing (expected or not): {', '.join(summary['failing'])}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
