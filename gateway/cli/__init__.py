"""The ``callgate`` command line: one module per verb group."""

from __future__ import annotations

import click

from gateway import __version__
from gateway.cli.agent import agent
from gateway.cli.approvals import approvals
from gateway.cli.audit import audit
from gateway.cli.demo import demo, demo_backends
from gateway.cli.keys import keys
from gateway.cli.pii import pii
from gateway.cli.policy import policy
from gateway.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callgate")
def main() -> None:
    """callgate: a secure tool gateway for AI agents."""


main.add_command(serve)
main.add_command(demo)
main.add_command(demo_backends)
main.add_command(keys)
main.add_command(policy)
main.add_command(agent)
main.add_command(audit)
main.add_command(pii)
main.add_command(approvals)
