"""Hot reload: new files take effect whole or not at all, and a broken file never decides a call."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.audit import AuditWriter
from gateway.backends import UpstreamClient
from gateway.config import Config, load_config
from gateway.metrics import Metrics
from gateway.reload import Reloader
from gateway.runtime import Runtime, RuntimeHolder, build_runtime
from gateway.serving import free_port, serve_in_thread
from gateway.store import MemoryStore
from tests.conftest import RunningGateway, copy_shipped_config, is_ready

#: Denies support agents the clock, which the shipped policy allows them: the policy change every test makes.
DENY_CLOCK = "p, support-agent, acme, clock.now, call, deny\n"
#: Not YAML: an unclosed flow sequence.
BROKEN_SPEC = "name: [unclosed\n"
#: A Casbin model file the parser refuses.
BROKEN_MODEL = "this is not a casbin model\n[[[\n"

CLOCK_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "clock.now", "arguments": {}}}


def copy_config(root: Path, *, watch: bool = True) -> Path:
    """A writable copy of the shipped configuration, optionally with file watching off."""
    config_dir = copy_shipped_config(root / "config")
    if not watch:
        gateway_yaml = config_dir / "policies" / "gateway.yaml"
        gateway_yaml.write_text(gateway_yaml.read_text().replace("server:\n", "server:\n  watch_config: false\n", 1))
    return config_dir


@contextlib.contextmanager
def reloadable_gateway(
    config_dir: Path, backend_url: str, keys: dict[str, str], audit_dir: Path
) -> Iterator[RunningGateway]:
    """A gateway on ``config_dir`` that reloads with the environment it started with."""
    env = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(audit_dir)}
    with serve_in_thread(create_app(load_config(config_dir, env=env), env=env)) as url:
        yield RunningGateway(url=url, audit_dir=audit_dir, keys=keys)


def metric(gateway: RunningGateway, name: str, **labels: str) -> float:
    """The value of one sample on ``/metrics`` (0 when the series does not exist yet)."""
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll ``check`` until it holds; the timeout only bounds a failing test, it asserts no speed."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def clock_decision(gateway: RunningGateway) -> str:
    response = gateway.rpc("tools/call", {"name": "clock.now", "arguments": {}})
    body = response.json()
    return "allowed" if "result" in body else body["error"]["data"]["reason"]


def reload_records(gateway: RunningGateway) -> list[dict[str, Any]]:
    return [record for record in gateway.audit_records() if record["event"] == "config/reload"]


def ready_version(gateway: RunningGateway) -> str:
    version: str = httpx.get(f"{gateway.url}/readyz", timeout=10).json()["config_version"]
    return version


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return copy_config(tmp_path)


@pytest.fixture
def watched(config_dir: Path, backend_url: str, demo_keys: dict[str, str], tmp_path: Path) -> Iterator[RunningGateway]:
    with reloadable_gateway(config_dir, backend_url, demo_keys, tmp_path / "audit") as gateway:
        yield gateway


def test_editing_policy_csv_changes_decisions_without_a_restart(watched: RunningGateway, config_dir: Path) -> None:
    before = ready_version(watched)
    assert clock_decision(watched) == "allowed"
    with (config_dir / "policies" / "policy.csv").open("a") as policy:
        policy.write(DENY_CLOCK)
    eventually(lambda: clock_decision(watched) == "policy.denied")
    after = ready_version(watched)
    assert after != before
    (record,) = reload_records(watched)
    assert (record["trigger"], record["outcome"], record["previous_version"], record["config_version"]) == (
        "watch",
        "success",
        before,
        after,
    )


def test_a_broken_tool_spec_leaves_the_running_configuration_in_force(
    watched: RunningGateway, config_dir: Path
) -> None:
    """The policy edit that comes with the broken file must not take effect either: all or nothing."""
    before = ready_version(watched)
    (config_dir / "tool_specs" / "zz-broken.yaml").write_text(BROKEN_SPEC)
    with (config_dir / "policies" / "policy.csv").open("a") as policy:
        policy.write(DENY_CLOCK)
    eventually(lambda: metric(watched, "callgate_config_reloads_total", outcome="failure", trigger="watch") >= 1)
    assert clock_decision(watched) == "allowed"
    assert ready_version(watched) == before
    assert metric(watched, "callgate_config_reloads_total", outcome="success") == 0
    failures = [record for record in reload_records(watched) if record["outcome"] == "failure"]
    assert failures
    assert failures[0]["config_version"] == failures[0]["previous_version"] == before
    assert failures[0]["reason"] == "config.invalid"
    assert failures[0]["error"] == {"file": "tool_specs/zz-broken.yaml", "line": 2, "json_path": None}


def test_fixing_the_broken_file_brings_the_new_configuration_in(watched: RunningGateway, config_dir: Path) -> None:
    broken = config_dir / "tool_specs" / "zz-broken.yaml"
    broken.write_text(BROKEN_SPEC)
    with (config_dir / "policies" / "policy.csv").open("a") as policy:
        policy.write(DENY_CLOCK)
    eventually(lambda: metric(watched, "callgate_config_reloads_total", outcome="failure", trigger="watch") >= 1)
    broken.unlink()
    eventually(lambda: clock_decision(watched) == "policy.denied")


def test_a_malformed_model_conf_is_refused_and_audited(watched: RunningGateway, config_dir: Path) -> None:
    before = ready_version(watched)
    (config_dir / "policies" / "model.conf").write_text(BROKEN_MODEL)
    eventually(lambda: metric(watched, "callgate_config_reloads_total", outcome="failure", trigger="watch") >= 1)
    assert clock_decision(watched) == "allowed"
    assert ready_version(watched) == before
    (record,) = reload_records(watched)
    assert (record["outcome"], record["error"]["file"]) == ("failure", "policies/model.conf")


def test_a_reloaded_configuration_keeps_the_environment_it_started_with(
    watched: RunningGateway, config_dir: Path
) -> None:
    """HTTP tools still reach the backend named by the start-up environment, not the built-in default."""
    with (config_dir / "policies" / "policy.csv").open("a") as policy:
        policy.write(DENY_CLOCK)
    eventually(lambda: clock_decision(watched) == "policy.denied")
    response = watched.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}})
    assert response.json()["result"]["isError"] is False


@contextlib.asynccontextmanager
async def in_process(config_dir: Path, audit_dir: Path) -> AsyncIterator[tuple[RuntimeHolder, Builder, AuditWriter]]:
    """The parts a Reloader needs, without a server: a holder, a builder and a running audit writer."""
    config = load_config(config_dir, env={"CALLGATE_AUDIT_DIR": str(audit_dir)})
    client, writer, metrics = UpstreamClient(), AuditWriter(audit_dir, durability="write"), Metrics()
    await writer.start()
    try:
        runtime = build_runtime(config, client, writer, MemoryStore(), metrics)
        yield RuntimeHolder(runtime), _builder(client, writer, metrics), writer
    finally:
        await writer.close()
        await client.aclose()


Builder = Callable[[Config], Runtime]


def without_rate_limits(config_dir: Path) -> None:
    """Drops the shipped rate limits from a copied configuration."""
    for path in [config_dir / "policies" / "gateway.yaml", *(config_dir / "tool_specs").glob("*.yaml")]:
        data = yaml.safe_load(path.read_text())
        if data.pop("rate_limits", None) is not None or data.pop("rate_limit", None) is not None:
            if path.name == "gateway.yaml":  # the request budget is never off: put it out of reach instead
                data["rate_limits"] = {"budget": {"requests": 1_000_000_000, "per_s": 1}}
            path.write_text(yaml.safe_dump(data))


def _builder(client: UpstreamClient, writer: AuditWriter, metrics: Metrics) -> Builder:
    return lambda config: build_runtime(config, client, writer, MemoryStore(), metrics)


async def test_a_policy_edited_while_it_loads_is_loaded_again(tmp_path: Path) -> None:
    """An edit between the loader's hash and Casbin's read must not label one policy with another's version."""
    config_dir = copy_config(tmp_path, watch=False)
    env = {"CALLGATE_AUDIT_DIR": str(tmp_path / "audit")}
    async with in_process(config_dir, tmp_path / "audit") as (holder, build, writer):
        before = holder.current.config.version
        edits = [DENY_CLOCK]

        def build_during_an_edit(config: Config) -> Runtime:
            if edits:
                with (config_dir / "policies" / "policy.csv").open("a") as policy:
                    policy.write(edits.pop())
            return build(config)

        result = await Reloader(holder, build_during_an_edit, writer, Metrics(), env).reload("test")
    assert result.reloaded
    assert result.version == holder.current.config.version == load_config(config_dir, env=env).version != before


async def test_an_unexpected_fault_while_building_keeps_the_running_configuration(tmp_path: Path) -> None:
    async with in_process(copy_config(tmp_path, watch=False), tmp_path / "audit") as (holder, _, writer):
        running = holder.current

        def faulty(config: Config) -> Runtime:
            raise RuntimeError("boom: /secret/path")

        metrics = Metrics()
        result = await Reloader(holder, faulty, writer, metrics).reload("test")
    assert (result.reloaded, result.error) == (False, "unexpected error")
    assert holder.current is running
    assert (
        metrics.registry.get_sample_value("callgate_config_reloads_total", {"outcome": "failure", "trigger": "test"})
        == 1
    )


def test_every_call_is_decided_by_one_complete_configuration_during_100_reloads(
    tmp_path: Path, backend_url: str, demo_keys: dict[str, str]
) -> None:
    """100 reloads, valid and broken by turns, under 8 concurrent callers.

    Each valid reload flips the policy between allowing and denying the clock; each broken one
    carries the opposite policy beside a broken tool spec, which must never take effect. Every
    call's audit record names the configuration that decided it; the decision must be the one
    that configuration gives, and no call may fail for any other reason.
    """
    config_dir = copy_config(tmp_path, watch=False)
    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    gateway_yaml.write_text(gateway_yaml.read_text().replace("durability: fsync", "durability: write"))
    without_rate_limits(config_dir)  # hundreds of clock calls: only the policy may decide them
    policy_path = config_dir / "policies" / "policy.csv"
    broken_path = config_dir / "tool_specs" / "zz-broken.yaml"
    allowing = policy_path.read_text()
    policies = {"allowed": allowing, "policy.denied": allowing + DENY_CLOCK}
    with reloadable_gateway(config_dir, backend_url, demo_keys, tmp_path / "audit") as gateway:
        expected = {ready_version(gateway): "allowed"}  # version -> the decision it gives support on the clock
        answers, reloads = asyncio.run(_calls_during_reloads(gateway, policy_path, broken_path, policies, expected))
        records = gateway.audit_records()
        succeeded = metric(gateway, "callgate_config_reloads_total", outcome="success", trigger="admin")
        failed = metric(gateway, "callgate_config_reloads_total", outcome="failure", trigger="admin")

    assert reloads == [True, False] * 50
    assert (succeeded, failed) == (50, 50)
    assert len(expected) == 2, "the two valid configurations should each have one version"
    assert all(status == 200 for status, _ in answers.values())
    assert {decision for _, decision in answers.values()} == {"allowed", "policy.denied"}

    calls = {record["request_id"]: record for record in records if record["event"] == "tools/call"}
    assert calls.keys() == answers.keys()
    for request_id, (_, decision) in answers.items():
        record = calls[request_id]
        assert record["config_version"] in expected, "a call was decided by a configuration that never loaded"
        assert decision == expected[record["config_version"]]
        assert (record["decision"], record["reason"]) == (
            ("allowed", "ok") if decision == "allowed" else ("refused", "policy.denied")
        )
    outcomes = Counter(record["outcome"] for record in records if record["event"] == "config/reload")
    assert outcomes == {"success": 50, "failure": 50}


async def _calls_during_reloads(
    gateway: RunningGateway,
    policy_path: Path,
    broken_path: Path,
    policies: dict[str, str],
    expected: dict[str, str],
) -> tuple[dict[str, tuple[int, str]], list[bool]]:
    answers: dict[str, tuple[int, str]] = {}
    reloads: list[bool] = []
    done = asyncio.Event()
    ids = itertools.count()
    headers = gateway.headers()

    async def caller(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            request_id = f"stress-{next(ids)}"
            response = await client.post("/rpc", json=CLOCK_CALL, headers={**headers, "X-Request-Id": request_id})
            body = response.json()
            answers[request_id] = (
                response.status_code,
                "allowed" if "result" in body else body["error"]["data"]["reason"],
            )

    async def reloader(client: httpx.AsyncClient) -> None:
        in_force = "allowed"
        admin = gateway.headers("admin")
        try:
            for step in range(100):
                valid = step % 2 == 0
                other = "policy.denied" if in_force == "allowed" else "allowed"
                await asyncio.to_thread(_write_files, policy_path, policies[other], broken_path, broken=not valid)
                response = await client.post("/admin/policy/reload", headers=admin)
                result = response.json()
                reloads.append(result["reloaded"])
                assert response.status_code == (200 if valid else 422)
                if valid:
                    in_force = other
                    assert expected.setdefault(result["version"], other) == other
                else:
                    assert result["version"] == result["previous_version"]
                await asyncio.sleep(0.01)  # let callers see each configuration for a moment
        finally:
            done.set()

    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        await asyncio.gather(reloader(client), *(caller(client) for _ in range(8)))
    return answers, reloads


def _write_files(policy_path: Path, policy: str, broken_path: Path, *, broken: bool) -> None:
    policy_path.write_text(policy)
    if broken:
        broken_path.write_text(BROKEN_SPEC)
    else:
        broken_path.unlink(missing_ok=True)


def test_sighup_reloads_a_served_gateway(tmp_path: Path, backend_url: str, demo_keys: dict[str, str]) -> None:
    """``callgate serve`` runs uvicorn in the main thread, where the SIGHUP handler is installed."""
    config_dir = copy_config(tmp_path, watch=False)
    port = free_port()
    env = {**os.environ, "CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(tmp_path / "audit")}
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--config-dir", str(config_dir)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = RunningGateway(url=f"http://127.0.0.1:{port}", audit_dir=tmp_path / "audit", keys=demo_keys)
    try:
        eventually(lambda: is_ready(gateway.url), timeout_s=30)
        before = ready_version(gateway)
        with (config_dir / "policies" / "policy.csv").open("a") as policy:
            policy.write(DENY_CLOCK)
        assert clock_decision(gateway) == "allowed", "nothing should reload without the signal"
        process.send_signal(signal.SIGHUP)
        eventually(lambda: clock_decision(gateway) == "policy.denied")
        assert ready_version(gateway) != before
        assert [record["trigger"] for record in reload_records(gateway)] == ["signal"]
    finally:
        process.terminate()
        process.wait(timeout=10)
