"""The scenarios: a small registry the runner iterates, in registration order.

Each scenario starts its own processes through a :class:`~bench.launch.Launcher`
and returns a :class:`Target`: the server under test, the request to send, and
how to tell a correct answer. A later capability adds its scenario here with
one :func:`register` call (G with the Redis store starts a ``redis-server`` and
passes ``CALLGATE_REDIS_URL``; G with PII scrubbing points ``config_dir`` at a
configuration with PII rules), and the harness measures and reports it like
the others.

Every request is the same tool call, ``crm.get_customer {"customer_id": "C1001"}``,
so the scenarios differ only in what stands between the client and the CRM; G_pii alone
sends a support ticket instead (bench.pii), so that scrubbing has text to work on.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import pii
from bench.configs import unlimited_copy
from bench.launch import Launcher
from bench.load import HttpRequest
from bench.processes import Server

CUSTOMER_ID = "C1001"
TOOL_CALL: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "crm.get_customer", "arguments": {"customer_id": CUSTOMER_ID}},
}


@dataclass(frozen=True)
class Target:
    """A running scenario: what to load, and how to know each answer is the right one."""

    server: Server  # the server under test: its memory is judged, it gets the server core
    request: HttpRequest
    #: ``None`` when a response (status, body) is correct, else what is wrong with it. Run before and after the load.
    check: Callable[[int, bytes], str | None]
    #: Bytes every correct body contains: the load generator checks each response for them.
    marker: bytes


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start: Callable[[Launcher], Target]
    #: The gateway targets (throughput and latency against P, memory per worker) apply to it.
    is_gateway: bool = False
    #: ``None`` when it can run on this machine, else why not (e.g. "redis-server not installed"): it is skipped.
    unavailable: Callable[[], str | None] = lambda: None
    #: Another scenario this one is judged against, and the least throughput ratio to it that meets the target.
    relative_to: tuple[str, float] | None = None


_REGISTRY: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in _REGISTRY:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    _REGISTRY[scenario.name] = scenario
    return scenario


def registered() -> list[Scenario]:
    return list(_REGISTRY.values())


def select(names: list[str] | None) -> list[Scenario]:
    if not names:
        return registered()
    unknown = [name for name in names if name not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; registered: {', '.join(_REGISTRY)}")
    return [_REGISTRY[name] for name in names]


def requires_binary(name: str) -> Callable[[], str | None]:
    """An ``unavailable`` check for scenarios that need a program, e.g. ``redis-server``."""
    return lambda: None if shutil.which(name) else f"{name} is not installed"


# ---- checks -----------------------------------------------------------------------------------------------------


def _json(status: int, body: bytes) -> tuple[Any, str | None]:
    if status != 200:
        return None, f"HTTP {status}: {body[:300]!r}"
    try:
        return json.loads(body), None
    except ValueError:
        return None, f"body is not JSON: {body[:300]!r}"


def check_customer(status: int, body: bytes) -> str | None:
    """The CRM's own answer: the customer record."""
    value, problem = _json(status, body)
    if problem:
        return problem
    if not isinstance(value, dict) or value.get("id") != CUSTOMER_ID or "name" not in value:
        return f"not the customer record: {body[:300]!r}"
    return None


def check_tool_result(status: int, body: bytes) -> str | None:
    """A JSON-RPC success whose result is a tools/call result holding the customer, not a refusal."""
    value, problem = _json(status, body)
    if problem:
        return problem
    result = value.get("result") if isinstance(value, dict) else None
    if not isinstance(result, dict):
        return f"not a JSON-RPC result: {body[:300]!r}"
    if result.get("isError") is not False:
        return f"the tool call failed (isError is not false): {body[:300]!r}"
    content = result.get("content")
    structured = result.get("structuredContent")
    if not (isinstance(content, list) and content and content[0].get("type") == "text"):
        return f"no text content: {body[:300]!r}"
    if not isinstance(structured, dict) or structured.get("id") != CUSTOMER_ID:
        return f"structuredContent is not the customer: {body[:300]!r}"
    return None


TOOL_RESULT_MARKER = b'"isError":false'


def tools_call(url: str, headers: dict[str, str] | None = None) -> HttpRequest:
    body = json.dumps(TOOL_CALL, separators=(",", ":")).encode()
    return HttpRequest("POST", url, {"Content-Type": "application/json", **(headers or {})}, body)


# ---- the scenarios ----------------------------------------------------------------------------------------------


def _direct(launch: Launcher) -> Target:
    backend = launch.demo_backend(under_test=True)
    request = HttpRequest("GET", f"{backend.url}/crm/customers/{CUSTOMER_ID}")
    return Target(backend, request, check_customer, marker=f'"id":"{CUSTOMER_ID}"'.encode())


def _pass_through(launch: Launcher) -> Target:
    backend = launch.demo_backend()
    proxy = launch.proxy(f"{backend.url}/crm/customers/{{customer_id}}")
    return Target(proxy, tools_call(f"{proxy.url}/rpc"), check_tool_result, TOOL_RESULT_MARKER)


def unlimited_config(launch: Launcher) -> Path:
    """The shipped configuration with its rate limits raised out of the load's reach (still checked)."""
    return unlimited_copy(launch.context.repo_root, launch.dir / "config")


def _gateway(launch: Launcher, env: dict[str, str] | None = None) -> Target:
    backend = launch.demo_backend()
    gateway = launch.gateway(backend, config_dir=unlimited_config(launch), env=env)
    key = launch.context.demo_keys["support-agent"]
    request = tools_call(f"{gateway.url}/rpc", {"Authorization": f"Bearer {key}"})
    return Target(gateway, request, check_tool_result, TOOL_RESULT_MARKER)


def _gateway_write(launch: Launcher) -> Target:
    """G with ``audit.durability: write``: records handed to the OS before the answer, no fdatasync."""
    config_dir = unlimited_config(launch)
    path = config_dir / "policies" / "gateway.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["audit"]["durability"] = "write"
    path.write_text(yaml.safe_dump(settings))
    backend = launch.demo_backend()
    # Never synced, so kept off the disk the fsync scenarios sync (Launcher.memory_dir).
    audit_dir = launch.memory_dir() / "audit"
    gateway = launch.gateway(backend, config_dir=config_dir, env={"CALLGATE_AUDIT_DIR": str(audit_dir)})
    key = launch.context.demo_keys["support-agent"]
    request = tools_call(f"{gateway.url}/rpc", {"Authorization": f"Bearer {key}"})
    return Target(gateway, request, check_tool_result, TOOL_RESULT_MARKER)


def _gateway_redis(launch: Launcher) -> Target:
    redis = launch.start(
        "redis",
        ["redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        under_test=False,
    )
    return _gateway(launch, {"CALLGATE_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"})


def _gateway_pii(launch: Launcher) -> Target:
    backend = launch.demo_backend()
    config_dir = pii.pii_copy(launch.context.repo_root, launch.dir / "config")
    gateway = launch.gateway(backend, config_dir=config_dir)
    request = pii.request(f"{gateway.url}/rpc", launch.context.demo_keys["support-agent"])
    return Target(gateway, request, pii.check_ticket, pii.MARKER)


register(Scenario("B1", "the demo backend called directly (GET /crm/customers/C1001)", _direct))
register(
    Scenario(
        "P",
        "bare JSON-RPC pass-through on the same stack (uvicorn, Starlette, callgate's upstream client and JSON "
        "encoder), no policy: the ceiling for any gateway here",
        _pass_through,
    )
)
register(
    Scenario(
        "G",
        "callgate on the shipped configuration (rate limits raised out of the load's reach, still checked), every "
        "stage that exists: edge middleware, authentication, audit (fsync, hash chain), request budget, resolve, "
        "authorization, validation, rate limits (memory store), approval (none needed for this call), PII scrub "
        "(the shipped rules, both directions), circuit breaker, deadline, concurrency limit, retry, invoke, "
        "output check, metrics",
        _gateway,
        is_gateway=True,
    )
)
register(
    Scenario(
        "G_write",
        "G with audit.durability: write (each group of records handed to the OS before the answers, no "
        "fdatasync: survives a gateway crash, not a power cut; its segments on tmpfs, off the disk G syncs); G itself "
        "runs the shipped durability: fsync",
        _gateway_write,
        is_gateway=True,
        relative_to=("G", 0.95),
    )
)
register(
    Scenario(
        "G_redis",
        "G with its state in Redis (CALLGATE_REDIS_URL): each call's rate-limit decision is one Lua call to a "
        "redis-server on loopback, on the load generator's core",
        _gateway_redis,
        is_gateway=True,
        unavailable=requires_binary("redis-server"),
        relative_to=("G", 0.8),
    )
)
register(
    Scenario(
        "G_pii",
        "G on a support ticket of about 1 KB in and 2 KB out, a few entities each way, scrubbed by the shipped PII "
        "rules in both directions (tools/call support.open_ticket, an HTTP backend echoing the ticket with the "
        "customer's earlier messages)",
        _gateway_pii,
        is_gateway=True,
        relative_to=("P", 0.5),
    )
)
