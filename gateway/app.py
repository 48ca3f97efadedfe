"""``create_app``: the only wiring. Routes, edge middleware and the lifespan of shared clients."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.admin import AdminEndpoints
from gateway.audit import AuditWriter
from gateway.audit.refusals import RefusalLog
from gateway.audit.writer import audit_problem
from gateway.auth.metadata import WELL_KNOWN_PATH, metadata_endpoint
from gateway.backends import UpstreamClient
from gateway.config import Config, ConfigError, default_config_dir, load_config
from gateway.config.demo_credentials import demo_credentials_in, refusal_message
from gateway.dispatcher import Dispatcher
from gateway.edge import LOOPBACK_HOSTS, BodyLimit, HostCheck, LastResort, OriginCheck, RequestId, is_loopback
from gateway.errors import GatewayError, SiteNotAllowed, StoreUnavailable, Unauthenticated, error_object
from gateway.http_protocol import LIMITS_STATE_KEY, HeadLimits
from gateway.mcp import McpEndpoint
from gateway.metrics import Metrics, ScrapeAccess
from gateway.reload import Reloader
from gateway.rpc import RpcEndpoint
from gateway.runtime import Runtime, RuntimeHolder, build_runtime
from gateway.sessions import Sessions
from gateway.stages.audit import AuditListing
from gateway.store import Store, build_store
from gateway.transport import endpoint


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

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Listener:
        """What ``callgate serve`` tells its worker processes through their environment."""
        allow = env.get("CALLGATE_ALLOW_DEMO_CREDENTIALS") == "1"
        return cls(env.get("CALLGATE_LISTEN_HOST", "127.0.0.1"), allow_demo_credentials=allow)


def check_listener(config: Config, listener: Listener) -> None:
    """Raise :class:`ConfigError` when ``config`` must not be served where ``listener`` says."""
    refuse_demo_credentials(config, listener)
    if not listener.loopback and not config.gateway.server.allowed_hosts:
        raise ConfigError(
            _gateway_yaml(config),
            f"server.allowed_hosts is empty and callgate listens on {listener.host}, which is not loopback: "
            'list the host names clients use to reach it (or "*" for any name, when a proxy in front checks Host)',
            json_path="$.server.allowed_hosts",
        )


def refuse_demo_credentials(config: Config, listener: Listener) -> None:
    """Raise :class:`ConfigError` when ``config`` holds the published demo credentials and may not expose them."""
    found = demo_credentials_in(config)
    if found and not listener.loopback and not listener.allow_demo_credentials:
        raise ConfigError(_gateway_yaml(config), refusal_message(found, listener.host))


def create_app(config: Config, env: Mapping[str, str] | None = None, listener: Listener = Listener()) -> Gateway:
    """The gateway for ``config``; compiles everything now, so a bad configuration fails here.

    ``env`` is the environment ``config`` was loaded with; reloads use it too (default: the process's).
    ``listener`` says where it is served (default: loopback).
    """
    check_listener(config, listener)
    server = config.gateway.server
    scrape = ScrapeAccess(metrics_token(config, os.environ if env is None else env))
    http_client = UpstreamClient()
    metrics = Metrics()
    # The checkpoint key comes from the environment only (gateway.audit.chain says why).
    audit = AuditWriter.from_settings(
        config.gateway.audit, os.environ if env is None else env, on_failure=metrics.audit_write_failed
    )
    # Read at start only: rate limits and sessions live in Redis when it is set, shared by every process using it.
    redis_url = (os.environ if env is None else env).get("CALLGATE_REDIS_URL")
    store = build_store(redis_url, max_sessions=server.max_sessions)
    metrics.watch_store(store.kind, lambda: store.answering)
    holder = RuntimeHolder(build_runtime(config, http_client, audit, store, metrics))
    metrics.config_in_force(config.version)

    def rebuild(new: Config) -> Runtime:
        """A reload's runtime: backends whose settings did not change keep their circuits and slots."""
        refuse_demo_credentials(new, listener)  # a reload must not bring them onto an exposed server either
        return build_runtime(new, http_client, audit, store, metrics, previous=holder.current)

    reloader = Reloader(holder, rebuild, audit, metrics, env)
    admin = AdminEndpoints(holder, reloader, audit)
    dispatcher = Dispatcher(holder)
    # A listing is a decision too (what the caller may see): one tools/list record each.
    listing = dispatcher.methods["tools/list"]
    dispatcher.methods["tools/list"] = AuditListing(listing, audit, lambda: holder.current.config.version)
    # Requests refused before any tool call (credential, body) are audited too, rate-limited per source.
    refusals = RefusalLog(audit, lambda: holder.current.config.version)
    sessions = Sessions(store, idle_s=server.session_idle_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await audit.start()
        try:
            async with reloader.triggers(watch=server.watch_config):
                # The lifespan state reaches the server's HTTP protocol too: it reads its head limits here.
                yield {LIMITS_STATE_KEY: HeadLimits.of(server)}
        finally:
            await audit.close()
            await http_client.aclose()
            await store.aclose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        reason = audit_problem(audit) or (None if await _answers(store) else "store.unavailable")
        body = {"status": "not ready" if reason else "ready", "config_version": holder.current.config.version}
        if reason:
            body["reason"] = reason
        return JSONResponse(body, status_code=503 if reason else 200)

    async def metrics_endpoint(request: Request) -> Response:
        # Labels hold tool names and reasons, never who called; still, only the scraper may read them.
        authorization = request.headers.get("authorization")
        client = request.client.host if request.client else None
        if scrape.allows(authorization.encode("latin-1") if authorization else None, client):
            return Response(metrics.exposition(), media_type=metrics.content_type)
        if scrape.needs_token:
            return _refusal(Unauthenticated(), {"WWW-Authenticate": "Bearer"})
        return _refusal(SiteNotAllowed("/metrics answers loopback clients only unless server.metrics_token_env is set"))

    starlette = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
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
        },
        fallback=starlette,
    )
    hosts = (*server.allowed_hosts, *(LOOPBACK_HOSTS if listener.loopback else ()))
    # The edge, outermost first: pure ASGI middleware, each passing other scopes through.
    edge: list[Callable[[ASGIApp], ASGIApp]] = [
        # First, so that every response carries the request id, the edge's own refusals included.
        RequestId,
        # Next: whatever escapes everything inside (a refusal raised by BodyLimit's receive, a fault)
        # becomes a JSON-RPC error with that id and no internals.
        LastResort,
        # Before any endpoint: a DNS-rebinding page learns nothing, not even /healthz or /metrics.
        partial(HostCheck, allowed=hosts),
        # Only a browser's cross-site call to /mcp, /rpc or /admin; before its body is read.
        partial(OriginCheck, allowed=server.allowed_origins, allow_loopback=listener.loopback),
        # Last: only requests that may be served have their body measured.
        partial(BodyLimit, max_bytes=server.max_body_bytes),
    ]
    for middleware in reversed(edge):
        app = middleware(app)
    return Gateway(app, starlette, holder, reloader, metrics)


async def _answers(store: Store) -> bool:
    try:
        await store.ping()
    except StoreUnavailable:
        return False
    return True


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


def _refusal(error: GatewayError, headers: Mapping[str, str] | None = None) -> Response:
    body = {"jsonrpc": "2.0", "error": error_object(error), "id": None}
    return JSONResponse(body, status_code=error.http_status, headers=headers)


def app_from_environment() -> Gateway:
    """Factory for ``uvicorn --factory`` and multi-worker serving: config from ``CALLGATE_CONFIG_DIR``.

    ``CALLGATE_LISTEN_HOST`` and ``CALLGATE_ALLOW_DEMO_CREDENTIALS`` say where (see :class:`Listener`).
    """
    config = load_config(Path(os.environ.get("CALLGATE_CONFIG_DIR", default_config_dir())))
    return create_app(config, listener=Listener.from_environment(os.environ))
