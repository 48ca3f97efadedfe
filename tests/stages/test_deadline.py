"""The deadline stage: a tool's timeout_s bounds the whole call, through a real gateway and real loopback backends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import Principal
from gateway.config import load_config
from gateway.errors import BackendTimeout, BackendTransient
from gateway.pipeline import ToolCall, ToolResult, compose
from gateway.stages import Deadline, Retry
from gateway.stages.deadline import deadline
from tests.conftest import REPO_ROOT, GatewayFactory
from tests.stages.backends import ScriptedBackend, call, code, config_dir, records

SLOW = "slow.op"
IN_PROCESS = "slow.in_process"


async def sleep_for_a_minute() -> dict[str, Any]:
    """An in-process tool that takes far longer than its deadline."""
    await asyncio.sleep(60)
    return {}


@pytest.fixture
def gateway(start_gateway: GatewayFactory, backend_server: tuple[ScriptedBackend, str], tmp_path: Path) -> Any:
    tools = {
        SLOW: f"timeout_s: 1\nbackend: {{type: http, method: GET, url: '{backend_server[1]}/op'}}\n",
        IN_PROCESS: f"timeout_s: 0.5\nbackend: {{type: python, callable: '{__name__}:sleep_for_a_minute'}}\n",
    }
    return start_gateway(config_dir(tmp_path, tools))


def until_the_backend_is_left(backend: ScriptedBackend) -> int:
    """How many requests are still open at the backend once the gateway has let go (bounded wait)."""
    give_up = time.monotonic() + 10
    while backend.at_once and time.monotonic() < give_up:
        time.sleep(0.01)
    return backend.at_once


def test_a_backend_that_drips_a_byte_at_a_time_is_cut_at_the_deadline(gateway: Any, backend: ScriptedBackend) -> None:
    """Headers at once, then a byte every 0.2 s forever: no read ever times out, the total deadline does."""
    backend.reset(then="drip")
    error = call(gateway, SLOW)["error"]
    assert error["code"] == -31504
    assert error["data"]["reason"] == "backend.timeout"
    assert backend.requests == 1
    assert until_the_backend_is_left(backend) == 0  # the gateway hung up: the drip stopped
    (record,) = records(gateway, SLOW)
    assert (record["reason"], record["code"], record["backend_status"]) == ("backend.timeout", -31504, 200)


def test_a_backend_that_hangs_before_headers_is_cut_at_the_deadline(gateway: Any, backend: ScriptedBackend) -> None:
    backend.reset(then="hang")
    assert code(call(gateway, SLOW)) == -31504
    assert backend.requests == 1
    assert until_the_backend_is_left(backend) == 0
    (record,) = records(gateway, SLOW)
    assert record["reason"] == "backend.timeout"
    assert "backend_status" not in record


def test_an_in_process_tool_is_cancelled_at_the_deadline(gateway: Any) -> None:
    assert code(call(gateway, IN_PROCESS)) == -31504


def test_the_gateway_answers_other_calls_after_a_timeout(gateway: Any, backend: ScriptedBackend) -> None:
    backend.reset("hang")
    assert code(call(gateway, SLOW)) == -31504
    assert call(gateway, SLOW)["result"]["structuredContent"] == {"ok": True}


# The stage itself, around stand-ins for the stages below it.

PRINCIPAL = Principal(subject="tester", tenant="acme", roles=("support-agent",), method="test")
TOOL = "crm.get_customer"  # timeout_s 5, idempotent: retried by default


def tool_call() -> ToolCall:
    return ToolCall(request_id="t", principal=PRINCIPAL, tool_name=TOOL, arguments={}, transport="rpc")


@pytest.fixture(scope="module")
def stage() -> Deadline:
    return Deadline(load_config(REPO_ROOT, env={}))


async def test_stages_below_are_told_the_deadline_and_it_ends_with_the_call(stage: Deadline) -> None:
    loop = asyncio.get_running_loop()
    seen: list[float | None] = []

    async def below(call: ToolCall) -> ToolResult:
        seen.append(deadline())
        return ToolResult.from_value({})

    before = loop.time()
    await stage(tool_call(), below)
    after = loop.time()
    assert seen[0] is not None
    assert before + 5 <= seen[0] <= after + 5
    assert deadline() is None


async def test_every_attempt_runs_under_the_one_deadline(stage: Deadline) -> None:
    """Retries do not restart the clock: each attempt is told the same deadline."""
    seen: list[float | None] = []

    async def flaky(call: ToolCall) -> ToolResult:
        seen.append(deadline())
        if len(seen) < 3:
            raise BackendTransient(data={"backend_status": 503})
        return ToolResult.from_value({})

    config = load_config(REPO_ROOT, env={})
    handler = compose([stage, Retry(config)], flaky)
    await handler(tool_call())
    assert len(seen) == 3
    assert seen[0] is not None
    assert len(set(seen)) == 1


async def test_a_timeout_error_raised_below_is_not_the_deadline(stage: Deadline) -> None:
    """aiohttp's own timeouts are TimeoutErrors too; only this stage's expiry is -31504."""

    async def own_timeout(call: ToolCall) -> ToolResult:
        raise TimeoutError

    with pytest.raises(TimeoutError) as caught:
        await stage(tool_call(), own_timeout)
    assert not isinstance(caught.value, BackendTimeout)


async def test_a_caller_going_away_is_a_cancellation_not_a_timeout(stage: Deadline) -> None:
    started = asyncio.Event()

    async def forever(call: ToolCall) -> ToolResult:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    task = asyncio.create_task(stage(tool_call(), forever))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


SHORT = "timeout_s: 0.1\nbackend: {type: http, url: 'http://127.0.0.1:9/op'}\n"


def short_call() -> ToolCall:
    return ToolCall(request_id="t", principal=PRINCIPAL, tool_name=TOOL + ".short", arguments={}, transport="rpc")


async def test_each_call_expires_at_its_own_deadline_whatever_the_others(tmp_path: Path) -> None:
    """A short deadline set after a long one still fires in time, and cancels only its own call."""
    tools = {
        "quick.op": "timeout_s: 0.2\nbackend: {type: http, url: 'http://127.0.0.1:9/op'}\n",
        "patient.op": "timeout_s: 60\nbackend: {type: http, url: 'http://127.0.0.1:9/op'}\n",
    }
    stage = Deadline(load_config(config_dir(tmp_path, tools), env={}))

    async def slow(call: ToolCall) -> ToolResult:
        await asyncio.sleep(60 if call.tool_name == "quick.op" else 0.6)
        return ToolResult.from_value({"tool": call.tool_name})

    def named(tool: str) -> ToolCall:
        return ToolCall(request_id="t", principal=PRINCIPAL, tool_name=tool, arguments={}, transport="rpc")

    patient = asyncio.create_task(stage(named("patient.op"), slow))
    await asyncio.sleep(0)
    quick = [asyncio.create_task(stage(named("quick.op"), slow)) for _ in range(3)]
    outcomes = await asyncio.gather(patient, *quick, return_exceptions=True)
    assert isinstance(outcomes[0], ToolResult)
    assert outcomes[0].structured == {"tool": "patient.op"}
    assert all(isinstance(outcome, BackendTimeout) for outcome in outcomes[1:])


async def test_a_cancellation_turned_into_another_error_below_is_still_the_timeout(tmp_path: Path) -> None:
    stage = Deadline(load_config(config_dir(tmp_path, {TOOL + ".short": SHORT}), env={}))

    async def converts(call: ToolCall) -> ToolResult:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise BackendTransient() from None
        raise AssertionError("not reached")

    with pytest.raises(BackendTimeout):
        await stage(short_call(), converts)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the deadline's cancel request was withdrawn


async def test_an_answer_that_outran_the_cancellation_is_kept(tmp_path: Path) -> None:
    """A layer below that swallows the cancellation and answers: the answer stands, the task is not left cancelled."""
    stage = Deadline(load_config(config_dir(tmp_path, {TOOL + ".short": SHORT}), env={}))

    async def stubborn(call: ToolCall) -> ToolResult:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        return ToolResult.from_value({"late": True})

    result = await stage(short_call(), stubborn)
    assert result.structured == {"late": True}
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # and no cancellation is pending for the task's next await


async def test_a_caller_going_away_as_the_deadline_passes_is_still_a_cancellation(tmp_path: Path) -> None:
    stage = Deadline(load_config(config_dir(tmp_path, {TOOL + ".short": SHORT}), env={}))

    async def caller_leaves_too(call: ToolCall) -> ToolResult:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # as the server does when the client disconnects
            raise
        raise AssertionError("not reached")

    task = asyncio.create_task(stage(short_call(), caller_leaves_too))
    with pytest.raises(asyncio.CancelledError):
        await task
