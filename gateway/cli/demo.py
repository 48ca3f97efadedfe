"""``callgate demo`` and ``callgate demo-backends``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import uvicorn

from gateway.cli.options import config_dir_option, setup_logging
from gateway.config import default_config_dir
from gateway.demo.backends import create_backend_app


@click.command()
@config_dir_option
def demo(config_dir: Path | None) -> None:
    """Run the whole story on loopback with the shipped configuration; exit 0 when it went as expected."""
    from gateway.demo.script import run_demo

    setup_logging("error")
    ok = run_demo((config_dir or default_config_dir()).resolve())
    click.echo("\ndemo: " + ("every step ended as expected" if ok else "SOME STEPS DID NOT END AS EXPECTED"))
    sys.exit(0 if ok else 1)


@click.command("demo-backends")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8701, show_default=True, type=int)
def demo_backends(host: str, port: int) -> None:
    """Serve the demo company's CRM, calendar, documents and billing backends."""
    click.echo(f"callgate demo backends on http://{host}:{port}")
    uvicorn.run(create_backend_app(), host=host, port=port, log_level="warning", access_log=False)
