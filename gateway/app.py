"""``create_app``: the only wiring. Routes, edge middleware and the lifespan of shared clients."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.admin import AdminEndpoints
from gateway.approvals.http import ApprovalEndpoints
from gateway.audit import AuditWriter
from gateway.audit.refusals import RefusalLog
from gateway.audit.writer import audit_problem
from gateway.auth.metadata import WELL_KNOWN_PATH, metadata_endpoint
from gateway.backends import UpstreamClient
from gateway.config import Config, ConfigError, default_config_dir, load_config
from gateway.config.demo_credentials import demo_credentials_in, refusal_message
from gateway.dispatcher import Dispatcher
from gateway.edge import LOOPBACK_HOSTS, BodyLimit, HostCheck, LastResort, OriginCheck, RequestId, is_loopback
from gateway.errors import GatewayError, SiteNotAllowed, StoreUnavailable, Unauthenticated, http_headers, http_status
from gateway.health import Readiness
from gateway.heap import Heap
from gateway.http_protocol import LIMITS_STATE_KEY, REFUSALS_STATE_KEY, HeadLimits
from gateway.jsonrpc import failure
from gateway.logs import LogContext
from gateway.mcp import McpEndpoint
from gateway.metrics import CountResponses, InFlight, Metrics, ScrapeAccess
from gateway.observe import observe_methods
from gateway.reload import Reloader
from gateway.rpc import RpcEndpoint
from gateway.runtime import Runtime, RuntimeHolder, build_runtime
from gateway.sessions import Sessions
from gateway.stages.audit import AuditListing
from gateway.store import build_store
from gateway.tracing import Tracing
from gateway.transport import endpoint

#: After the server cancelled the calls still running at shutdown, how long their audit records may take.
_DRAIN_AFTER_CANCEL_S = 5.0


class Routes:
    """Exact paths to pure ASGI endpoints (the tool-call hot path); everything else to ``fallback``."""

    def __init__(self, endpoints: dict[str, ASGIApp], fallback: ASGIApp) -> None:
        self._endpoints = endpoints
        self._fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self._endpoints.get(scope["path"]) if scope["type"] == "http" else None
        await (target or self._fallback)(scope, receive, send)


class Gateway:
    """The ASGI application callgate serves."""

    def __init__(
        self, app: ASGIApp, starlette: Starlette, holder: RuntimeHolder, reloader: Reloader, metrics: Metrics
    ) -> None:
        self._app = app
        self._starlette = starlette
        self.holder = holder
        self.reloader = reloader
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def lifespan(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Start and stop the shared clients without a server (for in-process use)."""
        return self._starlette.router.lifespan_context(self._starlette)


@dataclass(frozen=True, slots=True)
class Listener:
    """Where the app is served, as far as what it accepts depends on it (the app cannot see its socket).

    On loopback, the loopback names are allowed as Host and Origin, and the demo credentials are
    fine. Anywhere else, Host must be listed in ``server.allowed_hosts`` and the published demo
    credentials are refused unless ``allow_demo_credentials`` (a demo exposed on purpose).
    """

    host: str = "127.0.0.1"
    allow_demo_credentials: bool = False
    #: Host names the deployment adds to ``server.allowed_hosts`` (``CALLGATE_ALLOWED_HOSTS``): the names
    #: a deployment is reached by belong to it (a Service, a container's healthcheck), not to the policy.
    allowed_hosts: tuple[str, ...] = ()

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Listener:
        """What ``callgate serve`` tells its worker processes through their environment."""
        allow = env.get("CALLGATE_ALLOW_DEMO_CREDENTIALS") == "1"
        hosts = tuple(name for name in env.get("CALLGATE_ALLOWED_HOSTS", "").replace(",", " ").split() if name)
        return cls(env.get("CALLGATE_LISTEN_HOST", "127.0.0.1"), allow_demo_credentials=allow, allowed_hosts=hosts)


def check_listener(config: Config, listener: Listener) -> None:
    """Raise :class:`ConfigError` when ``config`` must not be served where ``listener`` says."""
    refuse_demo_credentials(config, listener)
    refuse_anonymous(config, listener)
    if not listener.loopback and not config.gateway.server.allowed_hosts and not listener.allowed_hosts:
        raise ConfigError(
            _gateway_yaml(config),
            f"server.allowed_hosts is empty and callgate listens on {listener.host}, which is not loopback: "
            'list the host names clients use to reach it (or "*" for any name, when a proxy in front checks Host)',
            json_path="$.server.allowed_hosts",
        )


def refuse_anonymous(config: Config, listener: Listener) -> None:
    """Raise :class:`ConfigError` when ``config`` lets requests in without a credential beyond loopback."""
    if not listener.loopback and config.gateway.loopback_anonymous is not None:
        raise ConfigError(
            _gateway_yaml(config),
            "principals.loopback_anonymous lets requests in without a credential; callgate listens on "
            f"{listener.host}, which is not loopback",
            json_path="$.principals.loopback_anonymous",
        )


def refuse_demo_credentials(config: Config, listener: Listener) -> None:
    """Raise :class:`ConfigError` when ``config`` holds the published demo credentials and may not expose them."""
    found = demo_credentials_in(config)
    if found and not listener.loopback and not listener.allow_demo_credentials:
        raise ConfigError(_gateway_yaml(config), refusal_message(found, listener.host))


def create_app(
    config: Config,
    env: Mapping[str, str] | None = None,
    listener: Listener = Listener(),
    tracing: Tracing | None = None,
    *,
    served: bool = False,
) -> Gateway:
    """The gateway for ``config``; compiles everything now, so a bad configuration fails here.

    ``env`` is the environment ``config`` was loaded with; reloads use it too (default: the process's).
    ``listener`` says where it is served (default: loopback). ``tracing``: spans to this tracer provider
    (default: as the OTEL_* variables of ``env`` say, or none). ``served``: the app is a worker's only one
    (``callgate serve``), so once started, and after each reload, it freezes the heap (gateway.heap).
    """
    check_listener(config, listener)
    server = config.gateway.server
    scrape = ScrapeAccess(metrics_token(config, os.environ if env is None else env))
    tracing = tracing or Tracing.from_environment(os.environ if env is None else env)
    # With tracing on, every backend request carries the trace context (traceparent).
    http_client = UpstreamClient(trace_configs=tracing.aiohttp_trace_configs() if tracing else None)
    metrics = Metrics()
    # The checkpoint key comes from the environment only (gateway.audit.chain says why).
    audit = AuditWriter.from_settings(
        config.gateway.audit, os.environ if env is None else env, on_failure=metrics.audit_write_failed
    )
    # Read at start only: rate limits and sessions live in Redis when it is set, shared by every process using it.
    redis_url = (os.environ if env is None else env).get("CALLGATE_REDIS_URL")
    store = build_store(redis_url, max_sessions=server.max_sessions)
    audit.on_written = metrics.audit_written
    metrics.watch_audit_queue(lambda: audit.queued)
    metrics.watch_store(store.kind, lambda: store.answering, errors=lambda: int(getattr(store, "errors", 0)))
    holder = RuntimeHolder(build_runtime(config, http_client, audit, store, metrics, tracing=tracing))
    metrics.watch_backends(lambda: holder.current.backend_states())
    metrics.config_in_force(config.version)

    def rebuild(new: Config) -> Runtime:
        """A reload's runtime: backends whose settings did not change keep their circuits and slots."""
        refuse_demo_credentials(new, listener)  # a reload must not bring them onto an exposed server either
        refuse_anonymous(new, listener)  # nor a way in without a credential
        return build_runtime(new, http_client, audit, store, metrics, previous=holder.current, tracing=tracing)

    heap = Heap(freeze=served)
    reloader = Reloader(holder, rebuild, audit, metrics, env, heap=heap)
    admin = AdminEndpoints(holder, reloader, audit)
    dispatcher = Dispatcher(holder)
    # A listing is a decision too (what the caller may see): one tools/list record each.
    listing = dispatcher.methods["tools/list"]
    dispatcher.methods["tools/list"] = AuditListing(listing, audit, lambda: holder.current.config.version)
    # Rate-limit refusals counted per method; with tracing, a tools/call continues its _meta trace context.
    observe_methods(dispatcher.methods, metrics, tracing, lambda: holder.current.config.tools)
    # Requests refused before any tool call (credential, body, edge and head limits) are audited too,
    # rate-limited per source.
    refusals = RefusalLog(audit, lambda: holder.current.config.version)
    # Approvers decide waiting calls here: list and show (GET), approve and deny (POST); ids in the path.
    approvals = endpoint(ApprovalEndpoints(holder, audit).handle, ("GET", "POST"), refusals)
    sessions = Sessions(store, idle_s=server.session_idle_s)
    in_flight = InFlight()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await audit.start()
        try:
            async with reloader.triggers(watch=server.watch_config):
                heap.settle()  # everything is built: what is alive now lives as long as the worker
                # The lifespan state reaches the server's HTTP protocol too: it reads its head limits here,
                # and audits the heads it refuses through the same RefusalLog as the edge.
                yield {LIMITS_STATE_KEY: HeadLimits.of(server), REFUSALS_STATE_KEY: refusals}
        finally:
            # After SIGTERM the server waited for calls in flight, then cancelled the rest (serve's
            # shutdown_timeout_s); cancelled calls still write their records before the trail closes.
            await in_flight.drained(_DRAIN_AFTER_CANCEL_S)
            await audit.close()
            await http_client.aclose()
            await store.aclose()
            if tracing is not None:
                tracing.shutdown()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    readiness = Readiness(
        audit_problem=lambda: audit_problem(audit),
        store=store,
        version=lambda: holder.current.config.version,
        last_reload=lambda: metrics.last_reload,
    )

    async def readyz(request: Request) -> Response:
        body, status = await readiness.check()
        return JSONResponse(body, status_code=status)

    async def metrics_endpoint(request: Request) -> Response:
        # Labels hold tool names and reasons, never who called; still, only the scraper may read them.
        authorization = request.headers.get("authorization")
        client = request.client.host if request.client else None
        if scrape.allows(authorization.encode("latin-1") if authorization else None, client):
            # Counted in the store at each scrape, so every replica reports the same, shared figure; a
            # store that does not answer leaves the last count (and store errors say why).
            with contextlib.suppress(StoreUnavailable):
                metrics.approvals_pending.set(await store.approvals.pending_count(now=time.time()))
            return Response(metrics.exposition(), media_type=metrics.content_type)
        if scrape.needs_token:
            return _refusal(Unauthenticated(challenge="Bearer"))
        return _refusal(SiteNotAllowed("/metrics answers loopback clients only unless server.metrics_token_env is set"))

    starlette = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Mount(ApprovalEndpoints.PREFIX, app=approvals),  # /admin/approvals/{id}[/approve|/deny]
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            # RFC 9728 metadata when JWT issuers are configured (404 otherwise), read from the runtime in force.
            Route(
                WELL_KNOWN_PATH + "{suffix:path}",
                metadata_endpoint(lambda: holder.current.config.gateway),
                methods=["GET"],
            ),
        ],
        lifespan=lifespan,
    )
    app: ASGIApp = Routes(
        {
            "/rpc": endpoint(RpcEndpoint(holder, dispatcher).handle, ("POST",), refusals),
            "/mcp": endpoint(McpEndpoint(holder, dispatcher, sessions).handle, ("GET", "POST", "DELETE"), refusals),
            "/admin/policy/reload": endpoint(admin.reload_policy, ("POST",), refusals),
            "/admin/policy/explain": endpoint(admin.explain_policy, ("POST",), refusals),
            "/admin/audit/export": endpoint(admin.export_audit, ("GET",), refusals),
            ApprovalEndpoints.PREFIX: approvals,  # the list; ids below it go to the Mount above
        },
        fallback=starlette,
    )
    hosts = (*server.allowed_hosts, *listener.allowed_hosts, *(LOOPBACK_HOSTS if listener.loopback else ()))
    # The edge, outermost first: pure ASGI middleware, each passing other scopes through.
    edge: list[Callable[[ASGIApp], ASGIApp]] = [
        # First, so that every response carries the request id, the edge's own refusals included.
        RequestId,
        # Every response counted by endpoint and status (the edge's refusals too); requests in flight known.
        partial(CountResponses, metrics=metrics, in_flight=in_flight),
        # The request id in every log line written while the request is served.
        LogContext,
        # With tracing: a server span per request, continuing the caller's traceparent.
        *([tracing.middleware] if tracing is not None else []),
        # Next: whatever escapes everything inside (a refusal raised by BodyLimit's receive, a fault)
        # becomes a JSON-RPC error with that id and no internals.
        LastResort,
        # Before any endpoint: a DNS-rebinding page learns nothing, not even /healthz or /metrics.
        partial(HostCheck, allowed=hosts, refusals=refusals),
        # Only a browser's cross-site call to /mcp, /rpc or /admin; before its body is read.
        partial(OriginCheck, allowed=server.allowed_origins, allow_loopback=listener.loopback, refusals=refusals),
        # Last: only requests that may be served have their body measured.
        partial(BodyLimit, max_bytes=server.max_body_bytes, refusals=refusals),
    ]
    for middleware in reversed(edge):
        app = middleware(app)
    return Gateway(app, starlette, holder, reloader, metrics)


def _gateway_yaml(config: Config) -> Path:
    return config.config_dir / "policies" / "gateway.yaml"


def metrics_token(config: Config, env: Mapping[str, str]) -> str | None:
    """The /metrics bearer token from the environment variable the configuration names; read at start."""
    name = config.gateway.server.metrics_token_env
    if name is None:
        return None
    token = env.get(name, "")
    if len(token) < ScrapeAccess.min_token_length:
        raise ConfigError(
            _gateway_yaml(config),
            f"server.metrics_token_env names {name}, which is unset or shorter than "
            f"{ScrapeAccess.min_token_length} characters",
            json_path="$.server.metrics_token_env",
        )
    return token


def _refusal(error: GatewayError) -> Response:
    return JSONResponse(failure(None, error), status_code=http_status(error), headers=http_headers(error))


def app_from_environment() -> Gateway:
    """Factory for ``uvicorn --factory`` and multi-worker serving: config from ``CALLGATE_CONFIG_DIR``.

    ``CALLGATE_LISTEN_HOST`` and ``CALLGATE_ALLOW_DEMO_CREDENTIALS`` say where (see :class:`Listener`).
    """
    config = load_config(Path(os.environ.get("CALLGATE_CONFIG_DIR", default_config_dir())))
    return create_app(config, listener=Listener.from_environment(os.environ), served=True)
