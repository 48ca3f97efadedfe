"""OpenTelemetry tracing, when an exporter is configured (the optional ``otel`` extra).

Configured by OpenTelemetry's own environment variables: ``OTEL_TRACES_EXPORTER``
(``otlp`` or ``console``; ``none`` turns it off) or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, http/protobuf),
with ``OTEL_SERVICE_NAME`` and the SDK's sampler variables. Without any of them,
nothing here is built or imported: no middleware, no span, no header, no cost.

With them:

- every HTTP request is a server span, continuing the caller's W3C
  ``traceparent`` / ``tracestate`` headers;
- a ``tools/call`` whose ``params._meta`` carries ``traceparent`` (MCP's trace
  context) continues that trace instead, since it names this very message;
- each pipeline stage is a span of its own (gateway.observe), nested as the
  stages are;
- every request to an HTTP backend carries ``traceparent`` for the backend's span.

Spans carry the request id, methods, known tool names, reasons and statuses:
never arguments, results, headers, query strings or who called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import __version__
from gateway.errors import as_gateway_error

if TYPE_CHECKING:
    import aiohttp
    from opentelemetry.sdk.trace import TracerProvider

_EXPORTERS = ("otlp", "console")


class TracingUnavailable(Exception):
    """Tracing is configured, but the ``otel`` extra is not installed (or the exporter is unknown)."""


def tracing_requested(env: Mapping[str, str]) -> bool:
    """Whether the environment configures a trace exporter."""
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(exporter or endpoint)


class Tracing:
    """One tracer provider's spans for one gateway app."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self._tracer = provider.get_tracer("callgate", __version__)
        self._propagator = TraceContextTextMapPropagator()
        self._context = context
        self._trace = trace

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Tracing | None:
        """Tracing as the environment configures it, or None when it configures none."""
        if not tracing_requested(env):
            return None
        exporter_name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
        if exporter_name not in _EXPORTERS:
            raise TracingUnavailable(f"OTEL_TRACES_EXPORTER must be one of {', '.join(_EXPORTERS)} or none")
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

            exporter: SpanExporter
            if exporter_name == "otlp":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                exporter = OTLPSpanExporter()
            else:
                exporter = ConsoleSpanExporter()
        except ImportError as exc:
            raise TracingUnavailable(
                f"tracing is configured (OTEL_*) but {exc.name} is missing: pip install 'callgate[otel]'"
            ) from None
        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "callgate")})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def stage_span(self, name: str) -> contextlib.AbstractContextManager[Any]:
        """The span of one pipeline stage, a child of the span in force."""
        return self._tracer.start_as_current_span(f"callgate.stage.{name}")

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Pure ASGI: a server span per HTTP request, continuing the caller's ``traceparent``."""
        return _ServerSpans(app, self)

    def continue_from_meta(self, method: Method, known_tools: Callable[[], Collection[str]]) -> Method:
        """``tools/call`` in a span that continues ``params._meta``'s trace context when it carries one."""

        async def traced(params: Any, context: Any) -> Any:
            meta = params.get("_meta") if isinstance(params, dict) else None
            carrier = _carrier(meta) if isinstance(meta, dict) else {}
            parent = self._propagator.extract(carrier) if carrier else None
            name = params.get("name") if isinstance(params, dict) else None
            attributes: dict[str, str] = {"rpc.method": "tools/call"}
            if isinstance(name, str) and name in known_tools():  # a caller's unknown name is its own text
                attributes["callgate.tool"] = name
            with self._tracer.start_as_current_span("tools/call", context=parent, attributes=attributes) as span:
                try:
                    return await method(params, context)
                except Exception as exc:
                    span.set_attribute("callgate.reason", as_gateway_error(exc).reason)
                    raise

        return traced

    def inject(self, headers: Any) -> None:
        """Write the current span's ``traceparent`` (and ``tracestate``) into ``headers``."""
        self._propagator.inject(headers)

    def aiohttp_trace_configs(self) -> list[aiohttp.TraceConfig]:
        """aiohttp hooks that give every backend request the current trace context."""
        import aiohttp

        async def on_request_start(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
            self.inject(params.headers)

        config = aiohttp.TraceConfig()
        config.on_request_start.append(on_request_start)
        return [config]

    def shutdown(self) -> None:
        """Export what is buffered, then stop (at the app's shutdown)."""
        self.provider.shutdown()

    def server_span(self, scope: Scope) -> contextlib.AbstractContextManager[Any]:
        carrier = {}
        for name, value in scope["headers"]:
            if name in (b"traceparent", b"tracestate"):
                carrier[name.decode()] = value.decode("latin-1")
        parent = self._propagator.extract(carrier) if carrier else None
        method = scope.get("method", "GET")
        path = scope.get("path", "/")[:100]
        attributes = {"http.request.method": method, "url.path": path}
        request_id = scope.get("state", {}).get("request_id")
        if request_id is not None:
            attributes["callgate.request_id"] = request_id
        kind = self._trace.SpanKind.SERVER
        return self._tracer.start_as_current_span(f"{method} {path}", context=parent, kind=kind, attributes=attributes)


Method = Callable[[Any, Any], Awaitable[Any]]


def _carrier(meta: dict[str, Any]) -> dict[str, str]:
    found = {}
    for key in ("traceparent", "tracestate"):
        value = meta.get(key)
        if isinstance(value, str) and len(value) <= 512:
            found[key] = value
    return found


class _ServerSpans:
    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self._tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self._tracing.server_span(scope) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_with_status)


__all__ = ["Tracing", "TracingUnavailable", "tracing_requested"]
