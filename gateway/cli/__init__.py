"""The ``callgate`` command line: one module per verb group, imported only when its verb runs.

``callgate approvals list`` should not pay for loading Presidio and spaCy (about
1.5 s), which only ``serve``, ``demo``, ``policy`` and ``pii`` need; so each verb's
module is imported when that verb is asked for (click's documented lazy group).
"""

from __future__ import annotations

import importlib

import click

from gateway import __version__

#: Verb -> "module:attribute" of its click command, in the order ``--help`` lists them.
VERBS = {
    "serve": "gateway.cli.serve:serve",
    "demo": "gateway.cli.demo:demo",
    "demo-backends": "gateway.cli.demo:demo_backends",
    "keys": "gateway.cli.keys:keys",
    "policy": "gateway.cli.policy:policy",
    "agent": "gateway.cli.agent:agent",
    "audit": "gateway.cli.audit:audit",
    "pii": "gateway.cli.pii:pii",
    "approvals": "gateway.cli.approvals:approvals",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = VERBS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callgate")
def main() -> None:
    """callgate: a secure tool gateway for AI agents."""
