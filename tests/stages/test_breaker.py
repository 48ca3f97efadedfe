"""The breaker stage, through a real gateway in front of a real loopback backend that can be told to fail."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pybreaker
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway.config import load_config
from gateway.config.model import BreakerSpec
from gateway.errors import BackendTimeout, BackendUnavailable
from gateway.serving import serve_in_thread
from gateway.stages.breaker import Breaker, Circuit, backend_key
from tests.conftest import REPO_ROOT, GatewayFactory, RunningGateway, copy_shipped_config

TOOL = "flaky.op"


@dataclass
class Switch:
    """What the backend does next, and how many requests reached it."""

    mode: str = "ok"  # ok, fail (503), garbage, wrong_shape, business (404), hold (wait for release)
    requests: int = 0
    release: threading.Event = field(default_factory=threading.Event)


def backend_app(switch: Switch) -> Starlette:
    async def op(request: Request) -> Response:
        switch.requests += 1
        if switch.mode == "hold":
            for _ in range(1000):  # at most 10 s, so a broken test cannot hang the suite
                if switch.release.is_set():
                    break
                await asyncio.sleep(0.01)
        if switch.mode == "fail":
            return PlainTextResponse("down", status_code=503)
        if switch.mode == "garbage":
            return Response(b"{not json", media_type="application/json")
        if switch.mode == "wrong_shape":
            return JSONResponse({"unexpected": True})
        if switch.mode == "business":
            return JSONResponse({"error": "no such thing"}, status_code=404)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/op", op, methods=["GET"])])


@pytest.fixture(scope="module")
def switch_server() -> Iterator[tuple[Switch, str]]:
    switch = Switch()
    with serve_in_thread(backend_app(switch)) as url:
        yield switch, url


@pytest.fixture
def switch(switch_server: tuple[Switch, str]) -> Switch:
    state = switch_server[0]
    state.mode, state.requests = "ok", 0
    state.release.clear()
    return state


def config_dir(root: Path, backend_url: str, *, reset_timeout_s: float) -> Path:
    copy_shipped_config(root)
    (root / "tool_specs" / f"{TOOL}.yaml").write_text(
        f"name: {TOOL}\n"
        "description: A backend the test can switch between healthy and failing.\n"
        "timeout_s: 15\n"
        "input_schema: {type: object}\n"
        "output_schema: {type: object, required: [ok]}\n"
        f"backend: {{type: http, method: GET, url: '{backend_url}/op'}}\n"
        f"breaker: {{failure_threshold: 3, reset_timeout_s: {reset_timeout_s}}}\n"
    )
    with (root / "policies" / "policy.csv").open("a") as policy:
        policy.write(f"\np, support-agent, acme, {TOOL}, call, allow\n")
    return root


@pytest.fixture
def start(
    start_gateway: GatewayFactory, switch_server: tuple[Switch, str], tmp_path: Path
) -> Callable[[float], RunningGateway]:
    def started(reset_timeout_s: float) -> RunningGateway:
        return start_gateway(config_dir(tmp_path, switch_server[1], reset_timeout_s=reset_timeout_s))

    return started


def call(gateway: RunningGateway) -> dict[str, Any]:
    body: dict[str, Any] = gateway.rpc("tools/call", {"name": TOOL, "arguments": {}}).json()
    return body


def code(response: dict[str, Any]) -> int | None:
    return response["error"]["code"] if "error" in response else None


def open_circuit(gateway: RunningGateway, switch: Switch) -> None:
    switch.mode = "fail"
    for _ in range(3):
        assert code(call(gateway)) == -31502


def until_trial(gateway: RunningGateway, switch: Switch) -> dict[str, Any]:
    """Calls until one reaches the backend (the half-open trial); the open circuit refuses the others."""
    seen = switch.requests
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = call(gateway)
        if switch.requests > seen:
            return response
        assert code(response) == -31503
        time.sleep(0.05)
    raise AssertionError("the circuit never let a trial call through")


def test_circuit_opens_after_exactly_the_threshold_of_failures(start: Any, switch: Switch) -> None:
    gateway = start(30)
    switch.mode = "fail"
    assert code(call(gateway)) == -31502
    assert code(call(gateway)) == -31502
    assert switch.requests == 2
    switch.mode = "garbage"  # malformed JSON is a failure too: the third in a row
    assert code(call(gateway)) == -31502
    assert switch.requests == 3
    refused = call(gateway)
    assert code(refused) == -31503
    assert switch.requests == 3


def test_a_success_resets_the_count_of_consecutive_failures(start: Any, switch: Switch) -> None:
    gateway = start(30)
    switch.mode = "fail"
    call(gateway), call(gateway)
    switch.mode = "ok"
    assert "result" in call(gateway)
    switch.mode = "fail"
    call(gateway), call(gateway)
    assert code(call(gateway)) == -31502  # only the third consecutive failure opens it
    assert code(call(gateway)) == -31503


def test_open_circuit_refuses_at_once_without_contacting_the_backend(start: Any, switch: Switch) -> None:
    gateway = start(30)
    open_circuit(gateway, switch)
    switch.mode = "ok"  # healthy again, but the circuit does not know until the reset timeout ends
    for _ in range(5):
        error = call(gateway)["error"]
        assert error["code"] == -31503
        assert error["data"]["reason"] == "backend.unavailable"
        assert 1 <= error["data"]["retry_after_s"] <= 30
        assert isinstance(error["data"]["retry_after_s"], int)
    assert switch.requests == 3
    refusals = [r for r in gateway.audit_records() if r["tool"] == TOOL and r["code"] == -31503]
    assert len(refusals) == 5
    assert {(r["reason"], r["decision"], r["breaker"]) for r in refusals} == {("backend.unavailable", "failed", "open")}


def test_half_open_lets_a_single_trial_through_and_success_closes(start: Any, switch: Switch) -> None:
    gateway = start(1)
    open_circuit(gateway, switch)
    switch.mode = "hold"  # the trial waits at the backend until released
    trial: list[dict[str, Any]] = []
    trial_thread = threading.Thread(target=lambda: trial.append(until_trial(gateway, switch)))
    trial_thread.start()
    deadline = time.monotonic() + 15
    while switch.requests == 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    arrived = switch.requests
    assert arrived == 4
    concurrent = call(gateway)  # while the trial runs, everyone else is still refused
    assert code(concurrent) == -31503
    assert concurrent["error"]["data"]["retry_after_s"] >= 1
    assert switch.requests == arrived
    switch.release.set()
    trial_thread.join(timeout=20)
    assert "result" in trial[0]
    switch.mode = "ok"
    assert "result" in call(gateway)  # closed again
    switch.mode = "fail"
    assert code(call(gateway)) == -31502  # and counting from zero
    assert code(call(gateway)) == -31502
    assert switch.requests == arrived + 3


def test_a_failed_trial_opens_the_circuit_again(start: Any, switch: Switch) -> None:
    gateway = start(1)
    open_circuit(gateway, switch)
    assert code(until_trial(gateway, switch)) == -31502
    reached = switch.requests
    assert code(call(gateway)) == -31503
    assert switch.requests == reached


def test_answers_that_break_the_output_schema_count_as_failures(start: Any, switch: Switch) -> None:
    """The breaker wraps check_output: a backend that answers the wrong shape is failing, not healthy."""
    gateway = start(30)
    switch.mode = "wrong_shape"
    for _ in range(3):
        assert code(call(gateway)) == -31502
    assert code(call(gateway)) == -31503
    assert switch.requests == 3


def test_tool_errors_from_the_backend_do_not_open_the_circuit(start: Any, switch: Switch) -> None:
    """A 4xx is the backend's business answer: the backend is healthy."""
    gateway = start(30)
    switch.mode = "business"
    for _ in range(5):
        assert call(gateway)["result"]["isError"] is True
    switch.mode = "fail"
    assert code(call(gateway)) == -31502
    assert code(call(gateway)) == -31502
    assert switch.requests == 7  # two failures in a row: still closed


def test_refusals_before_the_backend_never_reach_the_breaker(start: Any, switch: Switch) -> None:
    gateway = start(30)
    for _ in range(5):
        denied = gateway.rpc("tools/call", {"name": TOOL, "arguments": {}}, role="finance-agent").json()
        assert code(denied) == -31403
    switch.mode = "ok"
    assert "result" in call(gateway)
    assert switch.requests == 1


def test_tools_sharing_a_backend_share_one_circuit_with_the_strictest_settings(tmp_path: Path) -> None:
    root = config_dir(tmp_path, "http://127.0.0.1:8701", reset_timeout_s=1)
    (root / "tool_specs" / "flaky.other.yaml").write_text(
        "name: flaky.other\n"
        "description: Another tool on the same origin.\n"
        "input_schema: {type: object}\n"
        "backend: {type: http, url: 'http://127.0.0.1:8701/elsewhere/{id}'}\n"
        "breaker: {failure_threshold: 7, reset_timeout_s: 9}\n"
    )
    config = load_config(root, env={"CALLGATE_DEMO_BACKEND_URL": "http://127.0.0.1:8701"})
    breaker = Breaker(config)
    shared = breaker.circuit(TOOL)
    assert shared is not None
    assert shared is breaker.circuit("flaky.other") is breaker.circuit("crm.get_customer")
    assert shared.reset_timeout_s == 9  # the longest any of them declares
    python_tools = [spec for spec in config.tools.values() if spec.backend.type == "python"]
    assert python_tools, "the shipped configuration has in-process tools"
    assert backend_key(python_tools[0]).startswith("python:")
    assert breaker.circuit(python_tools[0].name) is not shared


def test_a_named_service_has_its_own_circuit_though_it_shares_an_origin(tmp_path: Path) -> None:
    """The shipped reports.daily names its service: its two-failure circuit is not the CRM's on the same origin."""
    config = load_config(REPO_ROOT, env={"CALLGATE_DEMO_BACKEND_URL": "http://127.0.0.1:8701"})
    breaker = Breaker(config)
    reports, crm = breaker.circuit("reports.daily"), breaker.circuit("crm.get_customer")
    assert reports is not None and crm is not None and reports is not crm
    assert backend_key(config.tools["reports.daily"]) == "service:reports"
    assert crm.reset_timeout_s == 30 and crm is breaker.circuit("docs.search")
    for _ in range(2):
        reports.record(trial=False, failed=True)
    assert reports.state == pybreaker.STATE_OPEN
    assert crm.state == pybreaker.STATE_CLOSED


def test_unknown_tools_have_no_circuit() -> None:
    """Resolve refuses them first; the stage itself has no circuit for a name it was not built with."""
    assert Breaker(load_config(REPO_ROOT, env={})).circuit("no.such.tool") is None


def test_async_failures_open_the_circuit_after_exactly_the_threshold(tmp_path: Path) -> None:
    """Driving pybreaker from async code: the awaited outcome is what counts, not the coroutine."""
    circuit = Circuit("test", BreakerSpec(failure_threshold=4, reset_timeout_s=60))

    async def failing() -> None:
        await asyncio.sleep(0)
        raise BackendTimeout()

    async def attempt() -> None:
        trial = circuit.admit()
        try:
            await failing()
        except BackendTimeout:
            circuit.record(trial=trial, failed=True)

    for _ in range(3):
        asyncio.run(attempt())
        assert circuit.state == pybreaker.STATE_CLOSED
    asyncio.run(attempt())
    assert circuit.state == pybreaker.STATE_OPEN
    with pytest.raises(BackendUnavailable):
        circuit.admit()


def test_a_reload_keeps_an_open_circuit_open_unless_its_settings_change(
    start: Any, switch: Switch, tmp_path: Path
) -> None:
    gateway = start(30)
    open_circuit(gateway, switch)
    switch.mode = "ok"

    def reload() -> None:
        response = httpx.post(f"{gateway.url}/admin/policy/reload", headers=gateway.headers("admin"), timeout=30)
        assert response.json()["reloaded"] is True

    policy = tmp_path / "policies" / "policy.csv"
    policy.write_text(policy.read_text() + "\np, sales-agent, acme, clock.now, call, allow\n")
    reload()
    assert code(call(gateway)) == -31503  # same backend, same settings: the open circuit carried over
    assert switch.requests == 3

    spec = tmp_path / "tool_specs" / f"{TOOL}.yaml"
    spec.write_text(spec.read_text().replace("failure_threshold: 3", "failure_threshold: 4"))
    reload()
    assert "result" in call(gateway)  # new settings: a new circuit, closed
    assert switch.requests == 4
