"""``create_app``: the only wiring. Routes, edge middleware and the lifespan of shared clients."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.audit import AuditWriter
from gateway.backends import UpstreamClient
from gateway.config import Config, default_config_dir, load_config
from gateway.dispatcher import Dispatcher
from gateway.edge import BodyLimit, LastResort, OriginCheck, RequestId
from gateway.mcp import McpEndpoint
from gateway.rpc import RpcEndpoint
from gateway.runtime import RuntimeHolder, build_runtime
from gateway.sessions import MemorySessionStore


def create_app(config: Config) -> Starlette:
    """The gateway for ``config``; compiles everything now, so a bad configuration fails here."""
    server = config.gateway.server
    http_client = UpstreamClient()
    audit = AuditWriter(config.gateway.audit.dir, fsync=config.gateway.audit.fsync)
    holder = RuntimeHolder(build_runtime(config, http_client, audit))
    dispatcher = Dispatcher(holder)
    sessions = MemorySessionStore(idle_s=server.session_idle_s, max_sessions=server.max_sessions)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await audit.start()
        try:
            yield
        finally:
            await audit.close()
            await http_client.aclose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready = audit.running
        body = {"status": "ready" if ready else "not ready", "config_version": holder.current.config.version}
        return JSONResponse(body, status_code=200 if ready else 503)

    return Starlette(
        routes=[
            Route("/mcp", McpEndpoint(holder, dispatcher, sessions).handle, methods=["GET", "POST", "DELETE"]),
            Route("/rpc", RpcEndpoint(holder, dispatcher).handle, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        middleware=[
            Middleware(RequestId),
            Middleware(LastResort),
            Middleware(BodyLimit, max_bytes=server.max_body_bytes),
            Middleware(OriginCheck, allowed=server.allowed_origins),
        ],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory`` and multi-worker serving: config from ``CALLGATE_CONFIG_DIR``."""
    return create_app(load_config(Path(os.environ.get("CALLGATE_CONFIG_DIR", default_config_dir()))))
