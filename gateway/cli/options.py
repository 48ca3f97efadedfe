"""Options and helpers that several verbs share."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from gateway.config import Config, ConfigError, default_config_dir, load_config

config_dir_option = click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory holding policies/ and tool_specs/ (default: $CALLGATE_CONFIG_DIR or the working directory).",
)


def load_or_exit(config_dir: Path | None) -> Config:
    """The configuration, or a one-line message naming the file and exit status 2."""
    try:
        return load_config(config_dir or default_config_dir())
    except ConfigError as exc:
        click.echo(f"callgate: configuration error: {exc}", err=True)
        sys.exit(2)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
