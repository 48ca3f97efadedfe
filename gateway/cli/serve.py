"""``callgate serve``: run the gateway with uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import uvicorn

from gateway.app import create_app
from gateway.cli.options import config_dir_option, load_or_exit, setup_logging
from gateway.config import Config


def uvicorn_options(config: Config) -> dict[str, Any]:
    """The uvicorn settings that ``policies/gateway.yaml`` decides; read at start, so a reload leaves them.

    With several workers each process applies them on its own: ``limit_concurrency`` is per process.
    """
    server = config.gateway.server
    return {"limit_concurrency": server.limit_concurrency, "timeout_keep_alive": server.timeout_keep_alive_s}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@config_dir_option
def serve(host: str, port: int, workers: int, log_level: str, access_log: bool, config_dir: Path | None) -> None:
    """Serve /mcp and /rpc with the configuration in --config-dir."""
    setup_logging(log_level)
    config = load_or_exit(config_dir)  # fail fast, with the file and line, before any worker starts
    click.echo(f"callgate: config {config.version}, {len(config.tools)} tools, listening on http://{host}:{port}")
    options = {"host": host, "port": port, "log_level": log_level, "access_log": access_log, **uvicorn_options(config)}
    if workers == 1:
        uvicorn.run(create_app(config), **options)
        return
    # Each worker loads the configuration again; these options reach it through uvicorn's own config.
    os.environ["CALLGATE_CONFIG_DIR"] = str(config.config_dir)
    uvicorn.run("gateway.app:app_from_environment", factory=True, workers=workers, **options)
