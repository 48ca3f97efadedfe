"""``callgate keys``: make API keys; only their hashes go into gateway.yaml."""

from __future__ import annotations

import secrets

import click

from gateway.auth import hash_key


@click.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("new")
@click.option("--subject", required=True, help="Who the key belongs to, e.g. support-bot.")
@click.option("--tenant", required=True, help="The tenant the subject acts in.")
@click.option("--roles", required=True, help="Comma-separated roles, e.g. support-agent,reader.")
def new(subject: str, tenant: str, roles: str) -> None:
    """Print a fresh key once, and the entry to paste under principals.api_keys."""
    key = "cg_" + secrets.token_urlsafe(32)
    role_list = ", ".join(role.strip() for role in roles.split(",") if role.strip())
    click.echo(f"API key (shown once, store it now): {key}\n")
    click.echo("Add to policies/gateway.yaml under principals.api_keys:")
    click.echo(
        f"    - subject: {subject}\n      tenant: {tenant}\n      roles: [{role_list}]\n      sha256: {hash_key(key)}"
    )
