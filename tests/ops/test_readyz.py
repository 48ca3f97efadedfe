"""/readyz names each check (configuration, audit, store) and, when one fails, why."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import GatewayFactory, RunningGateway
from tests.redis_server import RedisServer
from tests.test_reload import copy_config


def test_a_ready_gateway_reports_every_check(gateway: RunningGateway) -> None:
    body = httpx.get(f"{gateway.url}/readyz", timeout=10).json()
    assert body["status"] == "ready" and "reason" not in body
    checks = body["checks"]
    assert checks["config"] == {"ok": True, "version": body["config_version"]}
    assert checks["audit"] == {"ok": True}
    assert checks["store"] == {"ok": True, "kind": "memory"}


def test_an_unwritable_trail_is_named_as_the_reason(gateway: RunningGateway) -> None:
    gateway.check_trail = False
    shutil.rmtree(gateway.audit_dir)
    for attempt in range(2):  # the first record lands in the removed file; the next finds no directory
        gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}}, id=attempt)
    response = httpx.get(f"{gateway.url}/readyz", timeout=10)
    body = response.json()
    assert response.status_code == 503
    assert body["reason"].startswith("audit.unavailable: ")
    assert body["checks"]["audit"]["ok"] is False and body["checks"]["store"]["ok"] is True
    gateway.audit_dir.mkdir()


@pytest.mark.redis
def test_a_store_that_does_not_answer_is_named_as_the_reason(
    start_gateway: GatewayFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    redis = RedisServer(tmp_path_factory.mktemp("redis-down"))
    redis.start()
    try:
        gateway = start_gateway(CALLGATE_REDIS_URL=redis.url)
        assert httpx.get(f"{gateway.url}/readyz", timeout=10).json()["checks"]["store"] == {"ok": True, "kind": "redis"}
        redis.kill()
        response = httpx.get(f"{gateway.url}/readyz", timeout=10)
        assert response.status_code == 503
        assert response.json()["reason"] == "store.unavailable: the redis store does not answer"
    finally:
        redis.kill()


def test_a_failed_reload_is_reported_but_keeps_the_gateway_ready(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    """The configuration in force still serves: a broken ConfigMap must not take every pod out of service."""
    config_dir = copy_config(tmp_path, watch=False)
    gateway = start_gateway(config_dir)
    spec = config_dir / "tool_specs" / "docs.search.yaml"
    spec.write_text(spec.read_text().replace("timeout_s: 5", "timeout_s: -1"))
    response = httpx.post(f"{gateway.url}/admin/policy/reload", headers=gateway.headers("admin"), timeout=30)
    assert response.status_code == 422
    ready = httpx.get(f"{gateway.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"]["config"]["last_reload"] == {"outcome": "failure", "trigger": "admin"}
