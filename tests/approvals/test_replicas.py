"""Approvals across gateway processes sharing one Redis; and a Redis that stops answering refuses, never guesses."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.approvals.conftest import AGENT, APPROVER, ConfigCopy, Refunds, call, decide, listing, park, reason
from tests.conftest import REPO_ROOT, GatewayFactory
from tests.processes import serving
from tests.redis_server import RedisServer

Serve = Callable[[int], list[str]]


@pytest.fixture
def serve(counting_backend: str, redis_url: str, tmp_path: Path) -> Iterator[Serve]:
    """``callgate serve`` processes (separate OS processes) on the shipped configuration and one Redis."""
    env = {"CALLGATE_DEMO_BACKEND_URL": counting_backend, "CALLGATE_REDIS_URL": redis_url}
    with contextlib.ExitStack() as stack:

        def start(count: int) -> list[str]:
            return [served.url for served in stack.enter_context(serving(REPO_ROOT, tmp_path, env, count))]

        yield start


@pytest.mark.redis
def test_approved_through_one_process_and_executed_through_another_once(
    serve: Serve, demo_keys: dict[str, str], refunds: Refunds
) -> None:
    first, second = serve(2)
    agent, approver = demo_keys[AGENT], demo_keys[APPROVER]
    approval_id = park(first, agent)
    assert park(second, agent) == approval_id, "the other process finds the same pending request"
    assert [a["approval_id"] for a in listing(second, approver).json()["approvals"]] == [approval_id]
    assert decide(first, approver, approval_id).status_code == 200
    assert reason(call(second, agent, approval_id=approval_id)) == "ok"
    assert reason(call(first, agent, approval_id=approval_id)) == "approval.used"
    assert reason(call(second, agent, approval_id=approval_id)) == "approval.used"
    assert refunds.issued == 1


@pytest.mark.redis
def test_concurrent_replays_across_processes_execute_once(
    serve: Serve, demo_keys: dict[str, str], refunds: Refunds
) -> None:
    urls = serve(2)
    agent = demo_keys[AGENT]
    approval_id = park(urls[0], agent)
    assert decide(urls[1], demo_keys[APPROVER], approval_id).status_code == 200
    with ThreadPoolExecutor(max_workers=12) as pool:
        # 16 replays, half on each process: within finance-agent's burst, which the processes share.
        answers = list(pool.map(lambda i: call(urls[i % 2], agent, approval_id=approval_id), range(16)))
    outcomes = [reason(answer) for answer in answers]
    assert outcomes.count("ok") == 1
    assert set(outcomes) == {"ok", "approval.used"}
    assert refunds.issued == 1


@pytest.mark.redis
def test_a_redis_that_stops_answering_refuses_decisions_and_claims(
    start_gateway: GatewayFactory,
    config_copy: ConfigCopy,
    counting_backend: str,
    refunds: Refunds,
    tmp_path: Path,
) -> None:
    """Fail closed: nothing is decided or run from a copy only one process has."""
    own = RedisServer(tmp_path / "redis")
    own.start()
    try:
        gateway = start_gateway(
            config_copy.path, CALLGATE_DEMO_BACKEND_URL=counting_backend, CALLGATE_REDIS_URL=own.url
        )
        agent, approver = gateway.keys[AGENT], gateway.keys[APPROVER]
        approval_id = park(gateway.url, agent)
        own.kill()
        refused = decide(gateway.url, approver, approval_id)
        assert refused.status_code == 503 and refused.json()["error"]["data"]["reason"] == "store.unavailable"
        answer = call(gateway.url, agent, approval_id=approval_id)
        assert (answer["error"]["code"], reason(answer)) == (-31503, "store.unavailable")
        own.start()  # an empty Redis: the request is gone with the old one, so it can no longer be used
        time.sleep(0.6)  # past the store's retry interval, so the next command tries Redis again
        assert reason(call(gateway.url, agent, approval_id=approval_id)) == "approval.mismatch"
        assert refunds.issued == 0
    finally:
        own.kill()
