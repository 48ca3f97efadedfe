"""Fixtures that build real parts: the demo backends and the gateway on real uvicorn servers on loopback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import load_config
from gateway.demo.backends import create_backend_app
from gateway.demo.keys import read_demo_keys
from gateway.serving import serve_in_thread
from tests.audit.checks import check_trail
from tests.redis_server import RedisServer

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunningGateway:
    url: str
    audit_dir: Path
    keys: dict[str, str]
    #: At teardown every record is checked against the published schema and the trail is verified;
    #: a test that damages its trail on purpose turns this off.
    check_trail: bool = True

    def headers(self, role: str = "support-agent", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **extra}

    def audit_records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for segment in sorted(self.audit_dir.glob("*.jsonl")):
            records.extend(json.loads(line) for line in segment.read_text().splitlines() if line)
        # The trail's own checkpoints are not events of the gateway's: tests count only those.
        return [record for record in records if record.get("event") != "audit/checkpoint"]

    def rpc(self, method: str, params: Any = None, *, role: str = "support-agent", id: Any = 1) -> httpx.Response:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
        if params is not None:
            message["params"] = params
        return httpx.post(f"{self.url}/rpc", json=message, headers=self.headers(role), timeout=10)


def copy_shipped_config(root: Path) -> Path:
    """``root`` with a writable copy of the shipped configuration: ``policies/`` and ``tool_specs/``.

    For helpers that build an edited configuration in a directory of their own choosing; a test
    that only needs a copy takes the :func:`config_copy` fixture.
    """
    for part in ("policies", "tool_specs"):
        shutil.copytree(REPO_ROOT / part, root / part)
    return root


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped configuration, in a directory of its own (``tmp_path / "config"``)."""
    return copy_shipped_config(tmp_path / "config")


@pytest.fixture(scope="session")
def demo_keys() -> dict[str, str]:
    return read_demo_keys(REPO_ROOT)


@pytest.fixture(scope="session")
def backend_url() -> Iterator[str]:
    with serve_in_thread(create_backend_app()) as url:
        yield url


GatewayFactory = Callable[..., RunningGateway]


def is_ready(url: str) -> bool:
    """Whether a gateway at ``url`` answers its readiness check (False while it is still starting)."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def start_gateway(
    backend_url: str, demo_keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFactory]:
    """Starts gateways on free ports: the shipped configuration by default, or another config dir."""
    stack: list[Any] = []

    def start(config_dir: Path = REPO_ROOT, **env: str) -> RunningGateway:
        audit_dir = tmp_path_factory.mktemp("audit")
        environment = {"CALLGATE_DEMO_BACKEND_URL": backend_url, "CALLGATE_AUDIT_DIR": str(audit_dir), **env}
        app = create_app(load_config(config_dir, env=environment), env=environment)
        context = serve_in_thread(app)
        url = context.__enter__()
        running = RunningGateway(url=url, audit_dir=audit_dir, keys=demo_keys)
        stack.append((context, running))
        return running

    yield start
    for context, _ in reversed(stack):
        context.__exit__(None, None, None)
    for _, running in stack:
        if running.check_trail:
            check_trail(running.audit_dir)


@pytest.fixture
def gateway(start_gateway: GatewayFactory) -> RunningGateway:
    """A gateway with the shipped configuration, in front of the demo backends."""
    return start_gateway()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session; tests that need their own (to kill it) start another."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    if not redis_server.answers():
        redis_server.start()
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url
