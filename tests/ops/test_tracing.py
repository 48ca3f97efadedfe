"""OpenTelemetry (the otel extra): a span per stage, the caller's traceparent continued and passed to the backend.

Spans go to the SDK's in-memory exporter; nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.config import load_config
from gateway.serving import serve_in_thread
from gateway.tracing import Tracing, TracingUnavailable
from tests.conftest import copy_shipped_config

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
META_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
META = f"00-{META_TRACE_ID}-b7ad6b7169203331-01"
TOOL = "trace.echo"
SPEC = f"""\
# Answers with the trace context it received.
name: {TOOL}
description: Echoes the trace headers the gateway sent.
input_schema: {{type: object, properties: {{}}, additionalProperties: false}}
backend:
  type: http
  method: GET
  url: ${{TRACE_BACKEND_URL}}/headers
  args: none
"""


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[str, InMemorySpanExporter, str]]:
    async def headers(request: Request) -> JSONResponse:
        return JSONResponse({name: request.headers.get(name) for name in ("traceparent", "tracestate")})

    with serve_in_thread(Starlette(routes=[Route("/headers", headers)])) as backend:
        config_dir = copy_shipped_config(tmp_path / "config")
        (config_dir / "tool_specs" / f"{TOOL}.yaml").write_text(SPEC)
        with (config_dir / "policies" / "policy.csv").open("a") as policy:
            policy.write(f"\np, support-agent, acme, {TOOL}, call, allow\n")
        env = {"TRACE_BACKEND_URL": backend, "CALLGATE_AUDIT_DIR": str(tmp_path / "audit")}
        exporter = InMemorySpanExporter()
        provider = sdk.TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        app = create_app(load_config(config_dir, env=env), env, tracing=Tracing(provider))
        with serve_in_thread(app) as url:
            yield url, exporter, backend


def call(url: str, key: str, headers: dict[str, str] | None = None, meta: dict[str, Any] | None = None) -> Any:
    params: dict[str, Any] = {"name": TOOL, "arguments": {}}
    if meta is not None:
        params["_meta"] = meta
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    response = httpx.post(f"{url}/rpc", json=message, headers={"Authorization": f"Bearer {key}", **(headers or {})})
    return response.json()["result"]["structuredContent"]


def test_each_stage_is_a_span_in_the_callers_trace(
    traced: tuple[str, InMemorySpanExporter, str], demo_keys: dict[str, str]
) -> None:
    url, exporter, _ = traced
    received = call(url, demo_keys["support-agent"], headers={"traceparent": CALLER})
    spans = {span.name: span for span in exporter.get_finished_spans()}
    stages = [name for name in spans if name.startswith("callgate.stage.")]
    for stage in ("audit", "authorize", "rate_limit", "scrub", "breaker", "invoke"):
        assert f"callgate.stage.{stage}" in stages
    assert {f"{span.context.trace_id:032x}" for span in spans.values()} == {TRACE_ID}
    server = spans["POST /rpc"]
    assert server.parent is not None and f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"
    # Nested as the stages are: invoke's parent is check_output's span, audit's is tools/call's.
    assert spans["callgate.stage.invoke"].parent.span_id == spans["callgate.stage.check_output"].context.span_id
    assert spans["callgate.stage.audit"].parent.span_id == spans["tools/call"].context.span_id
    assert spans["tools/call"].attributes["callgate.tool"] == TOOL
    # The backend got the trace context of the invoke span.
    assert received["traceparent"].split("-")[1] == TRACE_ID
    assert received["traceparent"].split("-")[2] == f"{spans['callgate.stage.invoke'].context.span_id:016x}"


def test_mcp_meta_trace_context_is_honoured(
    traced: tuple[str, InMemorySpanExporter, str], demo_keys: dict[str, str]
) -> None:
    url, exporter, _ = traced
    received = call(url, demo_keys["support-agent"], headers={"traceparent": CALLER}, meta={"traceparent": META})
    tool_call = next(span for span in exporter.get_finished_spans() if span.name == "tools/call")
    assert f"{tool_call.context.trace_id:032x}" == META_TRACE_ID
    assert received["traceparent"].split("-")[1] == META_TRACE_ID


def test_spans_carry_no_arguments_or_callers(
    traced: tuple[str, InMemorySpanExporter, str], demo_keys: dict[str, str]
) -> None:
    url, exporter, _ = traced
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "canary-3c1d", "arguments": {}}}
    httpx.post(
        f"{url}/rpc?q=canary-3c1d", json=message, headers={"Authorization": f"Bearer {demo_keys['support-agent']}"}
    )
    for span in exporter.get_finished_spans():
        assert "canary" not in span.name and "canary" not in str(dict(span.attributes or {}))
        assert "support-bot" not in str(dict(span.attributes or {}))


def test_tracing_is_off_unless_an_exporter_is_configured() -> None:
    assert Tracing.from_environment({}) is None
    assert Tracing.from_environment({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}) is None
    tracing = Tracing.from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing is not None
    tracing.shutdown()
    with pytest.raises(TracingUnavailable, match="OTEL_TRACES_EXPORTER"):
        Tracing.from_environment({"OTEL_TRACES_EXPORTER": "zipkin"})
