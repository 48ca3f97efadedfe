"""``callgate serve``: run the gateway with uvicorn."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import uvicorn

from gateway.app import Listener, check_listener, create_app, metrics_token
from gateway.cli.options import config_dir_option, load_or_exit
from gateway.config import Config, ConfigError
from gateway.config.demo_credentials import ALLOW_FLAG
from gateway.logs import LEVELS, configure, logging_config, resolve
from gateway.serving import GracefulServer
from gateway.tracing import Tracing, TracingUnavailable

#: By import string, so that each worker process of ``--workers N`` imports it too.
HTTP_PROTOCOL = "gateway.http_protocol:HttpProtocol"


def uvicorn_options(config: Config) -> dict[str, Any]:
    """The uvicorn settings that ``policies/gateway.yaml`` decides; read at start, so a reload leaves them.

    With several workers each process applies them on its own: ``limit_concurrency`` is per process.
    The head limits (``max_header_bytes``, ``max_headers``, ``header_read_timeout_s``) are not
    uvicorn options: the protocol reads them from the app (gateway/http_protocol.py).
    """
    server = config.gateway.server
    return {"limit_concurrency": server.limit_concurrency, "timeout_keep_alive": server.timeout_keep_alive_s}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option(
    "--log-level",
    default=None,
    type=click.Choice(LEVELS),
    help="Overrides CALLGATE_LOG_LEVEL and logging.level in gateway.yaml (default: info).",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@click.option(
    ALLOW_FLAG,
    "allow_demo_credentials",
    is_flag=True,
    help="Serve the published demo API keys and JWT key on a non-loopback address (an exposed demo, on purpose).",
)
@config_dir_option
def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str | None,
    access_log: bool,
    allow_demo_credentials: bool,
    config_dir: Path | None,
) -> None:
    """Serve /mcp and /rpc with the configuration in --config-dir.

    SIGTERM stops it gracefully: no new connections, calls in flight finish (within
    server.shutdown_timeout_s), the audit trail gets its final checkpoint, exit status 0.
    """
    config = load_or_exit(config_dir)  # fail fast, with the file and line, before any worker starts
    settings = config.gateway.logging
    try:
        log_format, level = resolve(settings.format, settings.level, os.environ, level=log_level)
        tracing = Tracing.from_environment(os.environ)  # checked here; with workers, each builds its own
    except (ValueError, TracingUnavailable) as exc:
        click.echo(f"callgate: {exc}", err=True)
        sys.exit(2)
    if tracing is not None and workers > 1:
        tracing.shutdown()
        tracing = None
    configure(log_format, level)
    # CALLGATE_ALLOWED_HOSTS: Host names the deployment adds to server.allowed_hosts (comma or space separated).
    listener = Listener(host, allow_demo_credentials, Listener.from_environment(os.environ).allowed_hosts)
    try:
        # Before anything listens: the demo credentials, the Host names, the metrics token.
        check_listener(config, listener)
        metrics_token(config, os.environ)
    except ConfigError as exc:
        click.echo(f"callgate: {exc.detail}", err=True)
        sys.exit(2)
    if allow_demo_credentials and not listener.loopback:
        click.echo(f"callgate: WARNING: serving the published demo credentials on {host} ({ALLOW_FLAG})", err=True)
    click.echo(f"callgate: config {config.version}, {len(config.tools)} tools, listening on http://{host}:{port}")
    options = {
        "host": host,
        "port": port,
        "log_level": level,
        # uvicorn's own lines (startup, errors, access) in callgate's format, in every worker.
        "log_config": logging_config(log_format, level),
        "access_log": access_log,
        "http": HTTP_PROTOCOL,
        "timeout_graceful_shutdown": config.gateway.server.shutdown_timeout_s,
        **uvicorn_options(config),
    }
    if workers == 1:
        app = create_app(config, listener=listener, tracing=tracing, served=True)
        server = GracefulServer(uvicorn.Config(app, **options))
        server.run()
        if not server.started:
            sys.exit(3)
        return
    # Each worker loads the configuration again; these options reach it through uvicorn's own config,
    # and where it listens through the environment (Listener.from_environment). uvicorn's supervisor
    # passes SIGTERM on to every worker, which drains as one worker does.
    os.environ["CALLGATE_CONFIG_DIR"] = str(config.config_dir)
    os.environ["CALLGATE_LISTEN_HOST"] = host
    os.environ["CALLGATE_ALLOW_DEMO_CREDENTIALS"] = "1" if allow_demo_credentials else "0"
    uvicorn.run("gateway.app:app_from_environment", factory=True, workers=workers, **options)
