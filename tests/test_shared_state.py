"""Several gateway processes with one Redis behave as one gateway; Redis dying mid-traffic is refused cleanly."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, GatewayFactory
from tests.processes import serving
from tests.redis_server import RedisServer
from tests.stages.test_budget import config_with
from tests.stages.test_ratelimit import HOUR, config_dir

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}


def tool_call(tool: str = "crm.get_customer", id: int = 2) -> dict[str, Any]:
    arguments = {"customer_id": "C1001"} if tool.startswith("crm.") else {}
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def reason(body: dict[str, Any]) -> str:
    return "ok" if "result" in body else body["error"]["data"]["reason"]


@pytest.fixture
def serve_processes(backend_url: str, tmp_path: Path) -> Iterator[Callable[[Path, str, int], list[str]]]:
    """Starts ``callgate serve`` processes on one config dir and one Redis; each is a separate OS process."""
    with contextlib.ExitStack() as stack:

        def start(config: Path, redis_url: str, count: int) -> list[str]:
            env = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_REDIS_URL": redis_url}
            return [served.url for served in stack.enter_context(serving(config, tmp_path, env, count))]

        yield start


@pytest.mark.redis
def test_three_processes_sharing_redis_enforce_one_global_limit(
    serve_processes: Callable[[Path, str, int], list[str]], redis_url: str, demo_keys: dict[str, str], tmp_path: Path
) -> None:
    limits = {"crm.get_customer": {"requests": 9, "per_s": HOUR}}
    config = config_dir(tmp_path / "config", {"tenants": {"acme": {"requests": 14, "per_s": HOUR}}}, limits)
    urls = serve_processes(config, redis_url, 3)
    headers = {"Authorization": f"Bearer {demo_keys['support-agent']}"}

    def post(index: int) -> str:
        response = httpx.post(f"{urls[index % 3]}/rpc", json=tool_call(), headers=headers, timeout=30)
        assert response.status_code == 200
        return reason(response.json())

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = Counter(pool.map(post, range(30)))
    assert outcomes == {"ok": 9, "ratelimit.exceeded": 21}  # 30 calls spread over 3 processes: 9 in all

    # The tenant allowance (14) is shared too, and refused calls spent none of it: 5 more from another agent.
    sales = {"Authorization": f"Bearer {demo_keys['sales-agent']}"}
    tenant_outcomes = [
        reason(httpx.post(f"{urls[i % 3]}/rpc", json=tool_call(), headers=sales, timeout=30).json()) for i in range(6)
    ]
    assert tenant_outcomes == ["ok"] * 5 + ["ratelimit.exceeded"]


@pytest.mark.redis
def test_a_session_opened_on_one_process_works_on_the_others(
    serve_processes: Callable[[Path, str, int], list[str]], redis_url: str, demo_keys: dict[str, str], tmp_path: Path
) -> None:
    first, second, third = serve_processes(config_dir(tmp_path / "config", {}), redis_url, 3)
    headers = {"Authorization": f"Bearer {demo_keys['support-agent']}"}
    opened = httpx.post(f"{first}/mcp", json=INIT, headers=headers, timeout=30)
    session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
    answered = httpx.post(f"{second}/mcp", json=tool_call(), headers=session, timeout=30)
    assert answered.status_code == 200 and answered.json()["result"]["isError"] is False
    other_agent = {**session, "Authorization": f"Bearer {demo_keys['sales-agent']}"}
    assert httpx.post(f"{third}/mcp", json=tool_call(), headers=other_agent, timeout=30).status_code == 404
    assert httpx.delete(f"{third}/mcp", headers=session, timeout=30).status_code == 204
    assert httpx.post(f"{first}/mcp", json=tool_call(), headers=session, timeout=30).status_code == 404


@pytest.mark.redis
def test_the_session_cap_and_the_budget_hold_across_processes(
    serve_processes: Callable[[Path, str, int], list[str]], redis_url: str, demo_keys: dict[str, str], tmp_path: Path
) -> None:
    """Sessions opened on two processes count against one cap; the budget is one budget for all processes."""
    config = config_with(
        tmp_path / "config",
        server={"max_sessions_per_principal": 2},
        rate_limits={"budget": {"requests": 12, "per_s": HOUR}},
    )
    first, second = serve_processes(config, redis_url, 2)
    support = {"Authorization": f"Bearer {demo_keys['support-agent']}"}
    sales = {"Authorization": f"Bearer {demo_keys['sales-agent']}"}

    def open_on(url: str, headers: dict[str, str]) -> dict[str, str]:
        opened = httpx.post(f"{url}/mcp", json=INIT, headers=headers, timeout=30)
        return {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"]}

    others = open_on(first, sales)
    mine = [open_on(url, support) for url in (first, second, first)]  # three sessions for a cap of two
    ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
    alive = [
        httpx.post(f"{url}/mcp", json=ping, headers=s, timeout=30).status_code
        for url, s in zip((second, first, second), mine, strict=True)
    ]
    assert alive == [404, 200, 200]
    assert httpx.post(f"{second}/mcp", json=ping, headers=others, timeout=30).status_code == 200
    # Spent so far: 3 initialize and 2 pings. Seven more denied calls, alternating processes, use up the 12.
    outcomes = [
        reason(
            httpx.post(
                f"{(first, second)[n % 2]}/rpc", json=tool_call("billing.issue_refund"), headers=support, timeout=30
            ).json()
        )
        for n in range(8)
    ]
    assert outcomes == ["policy.denied"] * 7 + ["ratelimit.exceeded"]


@pytest.mark.redis
def test_redis_killed_during_calls_gives_clean_refusals_and_recovers(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        config = config_dir(tmp_path / "config", {"tenants": {"*": {"requests": 100_000, "per_s": 60}}})
        gateway = start_gateway(config, CALLGATE_REDIS_URL=redis.url)
        headers = gateway.headers()
        statuses: Counter[int] = Counter()
        reasons: Counter[str] = Counter()
        stop = threading.Event()
        lock = threading.Lock()

        def traffic() -> None:
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    response = client.post(f"{gateway.url}/rpc", json=tool_call(), headers=headers)
                    with lock:
                        statuses[response.status_code] += 1
                        reasons[reason(response.json())] += 1

        workers = [threading.Thread(target=traffic) for _ in range(4)]
        for worker in workers:
            worker.start()
        _wait_for(lambda: reasons["ok"] >= 20)
        redis.kill()
        _wait_for(lambda: reasons["store.unavailable"] >= 20)
        redis.start()
        with lock:
            ok_before = reasons["ok"]
        _wait_for(lambda: reasons["ok"] >= ok_before + 20, timeout_s=15)  # recovered without any restart
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        redis.kill()
    assert set(statuses) == {200, 503}  # no 500, no dropped request
    assert statuses[503] == reasons["store.unavailable"]  # the store down, alone in the answer: 503
    assert set(reasons) == {"ok", "store.unavailable"}
    audited = Counter(record["reason"] for record in gateway.audit_records())
    assert audited == reasons  # every call, allowed or refused, left exactly one record


def _wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_shipped_config_dir_is_untouched() -> None:
    """The tests above build their own config dirs; the shipped one keeps no rate-limit test leftovers."""
    assert "cg_test" not in (REPO_ROOT / "policies" / "gateway.yaml").read_text()
