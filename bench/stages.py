"""Stage costs: the per-call work of each pipeline stage, measured in process with gateway's real objects.

``python -m bench.stages`` prints the table; ``--json`` is how the harness
reads it (it runs this in a child pinned to the server core). No network: the
whole-pipeline rows call an in-process tool (``clock.now``), so what they show
is callgate's own cost per call, audit included, with no backend in it.

Synchronous work is timed with :mod:`timeit` (median of several repeats after
auto-ranging); asynchronous work in a uvloop event loop, as uvicorn runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import rfc8785
from starlette.datastructures import Headers
from starlette.types import Message

from bench.configs import unlimited_copy
from bench.pii import scrub_rows
from bench.policy_costs import authenticate_rows, authorize_rows
from gateway.app import create_app
from gateway.audit import AuditRecord, AuditWriter
from gateway.audit.chain import Chain
from gateway.auth import ApiKeyAuthenticator, Principal
from gateway.backends import UpstreamClient
from gateway.config import Config, load_config
from gateway.config.model import AuditDurability
from gateway.demo.keys import read_demo_keys
from gateway.jsoncodec import dumps
from gateway.jsonrpc import decode, encode
from gateway.pipeline import Handler, Stage, ToolCall, ToolResult, compose
from gateway.policy import PolicyEngine
from gateway.runtime import Runtime, build_runtime
from gateway.stages import Concurrency, Deadline, Retry
from gateway.store import MemoryStore
from gateway.validation import SchemaValidator

REPEATS = 5
CONCURRENCY = 32
ASYNC_BUDGET_S = 0.2  # per repeat
FRESH_ENGINES = 30  # cold policy decisions: each needs an engine that has never decided anything


@dataclass(frozen=True)
class Cost:
    stage: str
    measured: str
    us_per_call: float


def sync_us(function: Callable[[], object]) -> float:
    """Median µs per call over ``REPEATS`` runs of a loop auto-ranged to at least 0.1 s."""
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    number = max(1, number // 2)
    return statistics.median(timer.repeat(REPEATS, number)) / number * 1e6


async def async_us(function: Callable[[], Awaitable[object]], concurrency: int = 1) -> float:
    """Median µs per call; with ``concurrency`` > 1, that many calls at once and the time shared among them."""

    async def one_round() -> None:
        if concurrency == 1:
            await function()
        else:
            await asyncio.gather(*(function() for _ in range(concurrency)))

    for _ in range(10):  # warm up: first calls open files, fill caches
        await one_round()
    samples = []
    for _ in range(REPEATS):
        calls, started = 0, time.perf_counter()
        deadline = started + ASYNC_BUDGET_S
        while time.perf_counter() < deadline:
            await one_round()
            calls += concurrency
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def request_headers(key: str) -> Headers:
    # What Starlette hands the authenticator: headers as they arrive from uvicorn, lower-cased bytes.
    raw = [
        (b"host", b"127.0.0.1:8700"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", b"110"),
    ]
    return Headers(raw=raw)


def policy_first_calls(config: Config, principal: Principal) -> tuple[float, float]:
    """Median µs of an engine's very first decision (cold) and of its first for a second tool (miss)."""
    cold, miss = [], []
    for _ in range(FRESH_ENGINES):
        engine = PolicyEngine(config)
        started = time.perf_counter()
        engine.allows(principal, "crm.get_customer", "call")
        middle = time.perf_counter()
        engine.allows(principal, "docs.search", "call")
        cold.append(middle - started)
        miss.append(time.perf_counter() - middle)
    return statistics.median(cold) * 1e6, statistics.median(miss) * 1e6


def sync_costs(config: Config, key: str) -> tuple[list[Cost], Principal]:
    authenticator = ApiKeyAuthenticator(config.gateway.api_keys)
    headers = request_headers(key)
    principal = authenticator.authenticate(headers)
    spec = config.tools["crm.get_customer"]
    validator = SchemaValidator(spec.input_schema)
    output_validator = SchemaValidator(spec.output_schema or {})
    customer = {"id": "C1001", "name": "Ada Lovelace", "email": "ada@example.com", "plan": "enterprise"}
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}},
        },
        separators=(",", ":"),
    ).encode()
    text = json.dumps(customer, separators=(",", ":"))
    response = {
        "jsonrpc": "2.0",
        "result": {"content": [{"type": "text", "text": text}], "isError": False, "structuredContent": customer},
        "id": 1,
    }
    depth, longest = config.gateway.server.max_json_depth, config.gateway.server.max_string_length
    engine = PolicyEngine(config)
    engine.allows(principal, "crm.get_customer", "call")
    cold, miss = policy_first_calls(config, principal)
    arguments = {"customer_id": "C1001"}
    costs = [
        Cost(
            "authenticate",
            "API key: hash, bucket lookup, constant-time compare",
            sync_us(lambda: authenticator.authenticate(headers)),
        ),
        Cost("decode", "JSON-RPC request body (gateway.jsonrpc.decode)", sync_us(lambda: decode(body, depth, longest))),
        Cost("authorize", "policy decision, cold: an engine's first call", cold),
        Cost("authorize", "policy decision, miss: first call for a new tool", miss),
        Cost(
            "authorize",
            "policy decision, warm: cached",
            sync_us(lambda: engine.allows(principal, "crm.get_customer", "call")),
        ),
        Cost(
            "validate",
            "arguments against crm.get_customer's input schema",
            sync_us(lambda: validator.errors(arguments)),
        ),
        Cost(
            "check output",
            "the customer against crm.get_customer's output schema",
            sync_us(lambda: output_validator.errors(customer)),
        ),
        Cost("respond", "JSON-RPC response body (gateway.jsonrpc.encode)", sync_us(lambda: encode(response))),
    ]
    return costs, principal


def audit_record(n: int = 0) -> AuditRecord:
    """A record like the one the audit stage writes for a crm.get_customer call."""
    principal = Principal("support-bot", "acme", ("support-agent",), method="api_key")
    return AuditRecord.tool_call(
        request_id=f"{n:016x}",
        transport="rpc",
        principal=principal,
        tool="crm.get_customer",
        arguments={"customer_id": "C1001"},
        args_digest="hmac-sha256:" + "0" * 64,
        decision="allowed",
        reason="ok",
        code=None,
        config_version="0123456789abcdef",
        latency_us=1234,
        notes={"backend_status": 200},
    )


#: The label in stage rows: the two durability modes, as audit.durability names them.
DURABILITIES: tuple[AuditDurability, ...] = ("fsync", "write")


async def audit_costs(directory: Path) -> list[Cost]:
    costs = chain_costs()
    for durability in DURABILITIES:
        writer = AuditWriter(directory / f"audit-{durability}", durability=durability, key=bytes(32))
        await writer.start()
        try:
            costs += await _audit_rows(writer, f"durability {durability}")
        finally:
            await writer.close()
    return costs


def chain_costs() -> list[Cost]:
    """What the hash chain adds per record, on the writer thread: canonical JSON, SHA-256, the link."""
    record = audit_record()
    chain = Chain("20260101T000000000000Z-1-abcdef", bytes(32))
    data = record.to_json()
    return [
        Cost(
            "audit chain",
            "seal one record: RFC 8785 canonical JSON + SHA-256 + seq/prev",
            sync_us(lambda: chain.seal(record)),
        ),
        Cost(
            "audit chain", "for comparison: the record as plain JSON (orjson), no chain", sync_us(lambda: dumps(data))
        ),
        Cost(
            "audit chain", "for comparison: RFC 8785 by the rfc8785 package alone", sync_us(lambda: rfc8785.dumps(data))
        ),
    ]


async def _audit_rows(writer: AuditWriter, label: str) -> list[Cost]:
    record = audit_record()

    async def write() -> None:
        await writer.write(record)

    return [
        Cost("audit write", f"one record at a time, {label}", await async_us(write)),
        Cost("audit write", f"{CONCURRENCY} concurrent, {label}, per record", await async_us(write, CONCURRENCY)),
    ]


async def pipeline_costs(config: Config, principal: Principal, directory: Path) -> list[Cost]:
    """The whole tools/call pipeline (every stage, audit included) on an in-process tool."""
    costs = []
    client = UpstreamClient()  # unused by clock.now; build_runtime needs one for the HTTP tools
    try:
        for durability in DURABILITIES:
            writer = AuditWriter(directory / f"pipeline-{durability}", durability=durability)
            await writer.start()
            try:
                runtime = build_runtime(config, client, writer, MemoryStore())
                costs += await _pipeline_rows(runtime, principal, f"audit durability {durability}")
            finally:
                await writer.close()
    finally:
        await client.aclose()
    return costs


async def _pipeline_rows(runtime: Runtime, principal: Principal, label: str) -> list[Cost]:
    call = ToolCall(request_id="bench", principal=principal, tool_name="clock.now", arguments={}, transport="rpc")

    async def once() -> None:
        result = await runtime.call_tool(call)
        if result.is_error:
            raise RuntimeError(f"clock.now failed: {result.content}")

    return [
        Cost("pipeline", f"clock.now, one call at a time, {label}", await async_us(once)),
        Cost("pipeline", f"clock.now, {CONCURRENCY} concurrent, {label}, per call", await async_us(once, CONCURRENCY)),
    ]


async def app_costs(config: Config, key: str) -> list[Cost]:
    """The whole gateway app called as ASGI, as uvicorn calls it: everything but HTTP parsing and the network.

    Edge middleware, Starlette routing, the /rpc endpoint, authentication, the dispatcher and the pipeline
    (audit as configured) on an in-process tool. What G costs beyond this is uvicorn and the upstream call.
    """
    app = create_app(config)
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "clock.now", "arguments": {}}}
    ).encode()
    headers = [(k.lower().encode(), v.encode()) for k, v in _RPC_HEADERS.items()]
    headers += [(b"authorization", f"Bearer {key}".encode()), (b"content-length", str(len(body)).encode())]

    async def once() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/rpc",
            "raw_path": b"/rpc",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8700),
            "state": {},
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, send)
        if sent[0].get("status") != 200 or b'"isError":false' not in sent[-1].get("body", b""):
            raise RuntimeError(f"the app answered wrongly: {sent}")

    async with app.lifespan():
        label = f"audit durability {config.gateway.audit.durability}"
        return [
            Cost("app (ASGI)", f"POST /rpc tools/call clock.now, one at a time, {label}", await async_us(once)),
            Cost(
                "app (ASGI)",
                f"POST /rpc tools/call clock.now, {CONCURRENCY} concurrent, {label}, per call",
                await async_us(once, CONCURRENCY),
            ),
        ]


_RPC_HEADERS = {"Host": "127.0.0.1:8700", "Content-Type": "application/json", "Accept": "application/json"}


async def backend_safety_costs(config: Config, principal: Principal) -> list[Cost]:
    """Deadline, concurrency and retry around a backend that answers at once: the common case, over a bare await."""
    call = ToolCall(
        request_id="bench", principal=principal, tool_name="crm.get_customer", arguments={}, transport="rpc"
    )
    result = ToolResult.from_value({"id": "C1001"})

    async def backend(call: ToolCall) -> ToolResult:
        return result

    async def with_asyncio_timeout(call: ToolCall) -> ToolResult:
        async with asyncio.timeout(5):
            return await backend(call)

    bare = await async_us(lambda: backend(call))
    deadline, concurrency, retry = Deadline(config), Concurrency(config), Retry(config)
    costs = [
        Cost(
            "deadline",
            "for comparison: asyncio.timeout around the call (a loop timer per call), beyond a bare await",
            await async_us(lambda: with_asyncio_timeout(call)) - bare,
        )
    ]
    rows: list[tuple[str, str, list[Stage]]] = [
        ("deadline", "queued for the one shared timer, told to the stages below", [deadline]),
        ("concurrency", "a free slot taken and given back (no waiting)", [concurrency]),
        ("retry", "an idempotent tool whose first attempt succeeds", [retry]),
        ("deadline + concurrency + retry", "the three composed, as in the pipeline", [deadline, concurrency, retry]),
    ]
    for stage, measured, stages in rows:
        handler: Handler = compose(stages, backend)
        costs.append(Cost(stage, measured + ", beyond a bare await", await async_us(partial(handler, call)) - bare))
    return costs


async def async_costs(config: Config, principal: Principal, key: str) -> list[Cost]:
    with tempfile.TemporaryDirectory(prefix="callgate-bench-stages-") as tmp:
        costs = await backend_safety_costs(config, principal)
        costs += [Cost(*row) for row in await scrub_rows(config.config_dir, Path(tmp), async_us)]
        costs += await audit_costs(Path(tmp)) + await pipeline_costs(config, principal, Path(tmp))
        audit = replace(config.gateway.audit, dir=Path(tmp) / "app")
        return costs + await app_costs(replace(config, gateway=replace(config.gateway, audit=audit)), key)


def measure(repo_root: Path) -> list[Cost]:
    with tempfile.TemporaryDirectory(prefix="callgate-bench-config-") as tmp:
        # Rate limits still checked on every call, but out of reach of calls in a tight loop.
        config_dir = unlimited_copy(repo_root, Path(tmp))
        config = load_config(config_dir)
        key = read_demo_keys(repo_root)["support-agent"]
        costs, principal = sync_costs(config, key)
        growing = authenticate_rows(config, key) + authorize_rows(repo_root)
        costs += [Cost(stage, measured, us) for stage, measured, us in growing]
        try:
            import uvloop
        except ImportError:
            return costs + asyncio.run(async_costs(config, principal, key))
        return costs + uvloop.run(async_costs(config, principal, key))


def markdown(costs: list[Cost]) -> str:
    rows = ["| stage | what is measured | µs per call |", "| --- | --- | ---: |"]
    rows += [f"| {c.stage} | {c.measured} | {c.us_per_call:,.1f} |" for c in costs]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-call cost of each callgate stage, in process.")
    parser.add_argument("--json", action="store_true", help="print JSON (what the harness reads)")
    parser.add_argument("--config-dir", type=Path, default=Path(__file__).resolve().parent.parent)
    options = parser.parse_args()
    costs = measure(options.config_dir)
    if options.json:
        json.dump([asdict(cost) for cost in costs], sys.stdout)
    else:
        print(markdown(costs))


if __name__ == "__main__":
    main()
