"""The retry stage: idempotent tools only, transient failures only, through a real gateway and loopback backends."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import Principal
from gateway.config import ConfigError, load_config
from gateway.errors import BackendTransient
from gateway.pipeline import ToolCall, ToolResult, compose
from gateway.stages import Deadline, Retry
from tests.conftest import GatewayFactory, RunningGateway
from tests.stages.backends import (
    DroppingBackend,
    ScriptedBackend,
    call,
    code,
    config_dir,
    records,
    serve_dropping,
    serve_scripted,
)

IDEMPOTENT = "retry.read"
WRITE = "retry.write"
PATIENT = "retry.patient"  # idempotent, up to 4 attempts
LIMITED = "retry.limited"  # idempotent, a breaker that opens after 3 failed calls


def tool_specs(url: str) -> dict[str, str]:
    backend = f"backend: {{type: http, method: GET, url: '{url}/op'}}\n"
    return {
        IDEMPOTENT: "idempotent: true\ntimeout_s: 1\n" + backend,
        WRITE: "idempotent: false\ntimeout_s: 1\n" + backend.replace("GET", "POST"),
        PATIENT: "idempotent: true\nretry: {max_attempts: 4, base_delay_s: 0.01, max_delay_s: 0.05}\n"
        + backend.replace("/op", "/patient"),
    }


@pytest.fixture
def gateway(
    start_gateway: GatewayFactory, backend_server: tuple[ScriptedBackend, str], tmp_path: Path
) -> RunningGateway:
    return start_gateway(config_dir(tmp_path, tool_specs(backend_server[1])))


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("failures", [1, 2])
def test_an_idempotent_tool_is_retried_through_gateway_errors(
    gateway: RunningGateway, backend: ScriptedBackend, status: int, failures: int
) -> None:
    backend.reset(*[status] * failures)
    response = call(gateway, IDEMPOTENT)
    assert response["result"]["structuredContent"] == {"ok": True}
    assert backend.requests == failures + 1
    (record,) = records(gateway, IDEMPOTENT)
    assert (record["reason"], record["attempts"], record["backend_status"]) == ("ok", failures + 1, 200)


@pytest.mark.parametrize("drops", [1, 2])
def test_an_idempotent_tool_is_retried_through_dropped_connections(
    start_gateway: GatewayFactory, tmp_path: Path, drops: int
) -> None:
    dropping = DroppingBackend(["drop"] * drops)
    with serve_dropping(dropping) as url:
        gateway = start_gateway(config_dir(tmp_path, tool_specs(url)))
        response = call(gateway, IDEMPOTENT)
    assert response["result"]["structuredContent"] == {"ok": True}
    assert dropping.requests == drops + 1
    assert records(gateway, IDEMPOTENT)[0]["attempts"] == drops + 1


def test_a_tool_that_is_not_idempotent_is_sent_once(gateway: RunningGateway, backend: ScriptedBackend) -> None:
    backend.reset(503)
    assert code(call(gateway, WRITE)) == -31502
    assert backend.requests == 1
    (record,) = records(gateway, WRITE)
    assert record["attempts"] == 1  # the one attempt made, and no retry


def test_a_tool_that_is_not_idempotent_is_not_sent_again_after_a_dropped_connection(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    dropping = DroppingBackend(["drop"])
    with serve_dropping(dropping) as url:
        gateway = start_gateway(config_dir(tmp_path, tool_specs(url)))
        assert code(call(gateway, WRITE)) == -31502
    assert dropping.requests == 1


@pytest.mark.parametrize("failure", [500, "garbage"])
def test_other_failures_are_not_retried(gateway: RunningGateway, backend: ScriptedBackend, failure: Any) -> None:
    """The backend answered, wrongly: a second answer would be as wrong."""
    backend.reset(failure)
    assert code(call(gateway, IDEMPOTENT)) == -31502
    assert backend.requests == 1


def test_a_business_error_is_not_retried(gateway: RunningGateway, backend: ScriptedBackend) -> None:
    backend.reset(404)
    assert call(gateway, IDEMPOTENT)["result"]["isError"] is True
    assert backend.requests == 1


def test_a_timeout_is_not_retried(gateway: RunningGateway, backend: ScriptedBackend) -> None:
    """The deadline covers every attempt: once it has passed there is no time for another."""
    backend.reset("hang")
    assert code(call(gateway, IDEMPOTENT)) == -31504
    assert backend.requests == 1


def test_an_output_schema_violation_is_not_retried(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    backend = ScriptedBackend()
    with serve_scripted(backend) as url:
        tools = {
            IDEMPOTENT: "idempotent: true\noutput_schema: {type: object, required: [id]}\n"
            f"backend: {{type: http, method: GET, url: '{url}/op'}}\n"
        }
        gateway = start_gateway(config_dir(tmp_path, tools))
        assert code(call(gateway, IDEMPOTENT)) == -31502
    assert backend.requests == 1


def test_attempts_never_exceed_max_attempts(gateway: RunningGateway, backend: ScriptedBackend) -> None:
    backend.reset(then=503)
    assert code(call(gateway, PATIENT)) == -31502
    assert backend.requests == 4
    backend.reset(then=503)
    assert code(call(gateway, IDEMPOTENT)) == -31502
    assert backend.requests == 3  # the default for an idempotent tool without a retry block
    assert [r["attempts"] for r in records(gateway, PATIENT) + records(gateway, IDEMPOTENT)] == [4, 3]


def test_a_call_that_exhausts_its_retries_is_one_failure_for_the_breaker(
    start_gateway: GatewayFactory, backend_server: tuple[ScriptedBackend, str], tmp_path: Path
) -> None:
    backend = backend_server[0]
    backend.reset(then=503)
    tools = {
        LIMITED: "idempotent: true\nbreaker: {failure_threshold: 3, reset_timeout_s: 60}\n"
        f"backend: {{type: http, method: GET, url: '{backend_server[1]}/op'}}\n"
    }
    gateway = start_gateway(config_dir(tmp_path, tools))
    for _ in range(3):
        assert code(call(gateway, LIMITED)) == -31502
    assert backend.requests == 9  # three calls of three attempts each: only now is the circuit open
    assert code(call(gateway, LIMITED)) == -31503
    assert backend.requests == 9


def test_a_retry_block_on_a_tool_that_is_not_idempotent_fails_to_load(tmp_path: Path) -> None:
    root = config_dir(
        tmp_path,
        {"retry.bad": "retry: {max_attempts: 2}\nbackend: {type: http, url: 'http://127.0.0.1:9/op'}\n"},
    )
    with pytest.raises(ConfigError, match="idempotent") as caught:
        load_config(root, env={})
    assert caught.value.file == root.resolve() / "tool_specs" / "retry.bad.yaml"
    assert caught.value.json_path == "$.retry"
    assert caught.value.line == 4


def test_retry_settings_are_checked_at_load(tmp_path: Path) -> None:
    root = config_dir(
        tmp_path,
        {
            "retry.bad": "idempotent: true\nretry: {max_attempts: 0}\nbackend: {type: http, url: 'http://127.0.0.1:9/op'}\n"
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_config(root, env={})
    assert caught.value.json_path == "$.retry.max_attempts"


# The stage itself, around a stand-in backend, where the jitter can be pinned.

PRINCIPAL = Principal(subject="tester", tenant="acme", roles=("support-agent",), method="test")


class Bounds(random.Random):
    """Jitter that always picks the top of its range, and remembers each range."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


def stage_config(tmp_path: Path, retry: str, timeout_s: float = 5) -> Any:
    spec = f"idempotent: true\ntimeout_s: {timeout_s}\nretry: {retry}\nbackend: {{type: http, url: 'http://127.0.0.1:9/op'}}\n"
    return load_config(config_dir(tmp_path, {IDEMPOTENT: spec}), env={})


def failing(counter: list[int]) -> Any:
    async def endpoint(call: ToolCall) -> ToolResult:
        counter.append(1)
        raise BackendTransient(data={"backend_status": 503})

    return endpoint


def tool_call() -> ToolCall:
    return ToolCall(request_id="t", principal=PRINCIPAL, tool_name=IDEMPOTENT, arguments={}, transport="rpc")


async def test_backoff_is_full_jitter_doubling_up_to_the_maximum(tmp_path: Path) -> None:
    config = stage_config(tmp_path, "{max_attempts: 5, base_delay_s: 0.001, max_delay_s: 0.003}")
    rng = Bounds()
    attempts: list[int] = []
    with pytest.raises(BackendTransient):
        await Retry(config, rng)(tool_call(), failing(attempts))
    assert len(attempts) == 5
    assert rng.ranges == [(0, 0.001), (0, 0.002), (0, 0.003), (0, 0.003)]


async def test_a_backoff_that_would_outlast_the_deadline_is_not_started(tmp_path: Path) -> None:
    """Giving up at once with the backend's failure says more than sleeping into a timeout."""
    config = stage_config(tmp_path, "{max_attempts: 3, base_delay_s: 30, max_delay_s: 30}", timeout_s=1)
    attempts: list[int] = []
    handler = compose([Deadline(config), Retry(config, Bounds())], failing(attempts))
    call_ = tool_call()
    with pytest.raises(BackendTransient):
        await handler(call_)
    assert len(attempts) == 1
    assert "attempts" not in call_.notes


def test_the_audit_record_tells_the_last_attempts_status(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    """A 503 then dropped connections: the record does not claim the backend answered the call 503."""
    dropping = DroppingBackend([503, "drop", "drop"])
    with serve_dropping(dropping) as url:
        gateway = start_gateway(config_dir(tmp_path, tool_specs(url)))
        assert code(call(gateway, IDEMPOTENT)) == -31502
    assert dropping.requests == 3
    (record,) = records(gateway, IDEMPOTENT)
    assert record["attempts"] == 3
    assert "backend_status" not in record
