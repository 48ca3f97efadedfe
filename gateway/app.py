"""``create_app``: the only wiring. Routes, edge middleware and the lifespan of shared clients."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.admin import AdminEndpoints
from gateway.audit import AuditWriter
from gateway.auth.metadata import WELL_KNOWN_PATH, metadata_endpoint
from gateway.backends import UpstreamClient
from gateway.config import Config, default_config_dir, load_config
from gateway.dispatcher import Dispatcher
from gateway.edge import BodyLimit, LastResort, OriginCheck, RequestId
from gateway.errors import StoreUnavailable
from gateway.mcp import McpEndpoint
from gateway.metrics import Metrics
from gateway.reload import Reloader
from gateway.rpc import RpcEndpoint
from gateway.runtime import Runtime, RuntimeHolder, build_runtime
from gateway.sessions import Sessions
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


def create_app(config: Config, env: Mapping[str, str] | None = None) -> Gateway:
    """The gateway for ``config``; compiles everything now, so a bad configuration fails here.

    ``env`` is the environment ``config`` was loaded with; reloads use it too (default: the process's).
    """
    server = config.gateway.server
    http_client = UpstreamClient()
    audit = AuditWriter(config.gateway.audit.dir, fsync=config.gateway.audit.fsync)
    metrics = Metrics()
    # Read at start only: rate limits and sessions live in Redis when it is set, shared by every process using it.
    redis_url = (os.environ if env is None else env).get("CALLGATE_REDIS_URL")
    store = build_store(redis_url, max_sessions=server.max_sessions)
    metrics.watch_store(store.kind, lambda: store.answering)
    holder = RuntimeHolder(build_runtime(config, http_client, audit, store, metrics))
    metrics.config_in_force(config.version)

    def rebuild(new: Config) -> Runtime:
        """A reload's runtime: backends whose settings did not change keep their circuits and slots."""
        return build_runtime(new, http_client, audit, store, metrics, previous=holder.current)

    reloader = Reloader(holder, rebuild, audit, metrics, env)
    admin = AdminEndpoints(holder, reloader, audit)
    dispatcher = Dispatcher(holder)
    sessions = Sessions(store, idle_s=server.session_idle_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await audit.start()
        try:
            async with reloader.triggers(watch=server.watch_config):
                yield
        finally:
            await audit.close()
            await http_client.aclose()
            await store.aclose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready = audit.running and await _answers(store)
        body = {"status": "ready" if ready else "not ready", "config_version": holder.current.config.version}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        # Unauthenticated, as Prometheus scrapes expect: labels hold tool names and reasons, never who called.
        return Response(metrics.exposition(), media_type=metrics.content_type)

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
            "/rpc": endpoint(RpcEndpoint(holder, dispatcher).handle, methods=("POST",)),
            "/mcp": endpoint(McpEndpoint(holder, dispatcher, sessions).handle, methods=("GET", "POST", "DELETE")),
            "/admin/policy/reload": endpoint(admin.reload_policy, methods=("POST",)),
            "/admin/policy/explain": endpoint(admin.explain_policy, methods=("POST",)),
        },
        fallback=starlette,
    )
    # The edge, outermost first. Each is a pure ASGI middleware that passes other scopes through.
    app = OriginCheck(app, allowed=server.allowed_origins)
    app = BodyLimit(app, max_bytes=server.max_body_bytes)
    app = LastResort(app)
    app = RequestId(app)
    return Gateway(app, starlette, holder, reloader, metrics)


async def _answers(store: Store) -> bool:
    try:
        await store.ping()
    except StoreUnavailable:
        return False
    return True


def app_from_environment() -> Gateway:
    """Factory for ``uvicorn --factory`` and multi-worker serving: config from ``CALLGATE_CONFIG_DIR``."""
    return create_app(load_config(Path(os.environ.get("CALLGATE_CONFIG_DIR", default_config_dir()))))
