"""Mint JWTs from the demo identity provider (demo only: its private key ships in ``policies/``).

    python -m gateway.demo.tokens --subject support-bot --roles support-agent

prints a token the shipped configuration accepts as ``Authorization: Bearer <token>``.
Issuer and audience are read from the configuration's demo issuer, so a token
matches the ``server.resource_uri`` the gateway was started with. A token the
issuer's bounds refuse (``--roles admin``: the demo issuer grants only the agent
roles; another tenant; a lifetime over its cap) is still printed, for trying
the refusal, with a note on stderr saying why the gateway will refuse it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import jwt

from gateway.auth import JwtAuthenticator
from gateway.config import Config, JwtIssuer, load_config
from gateway.errors import Unauthenticated

DEMO_ISSUER = "https://idp.acme.example"
PRIVATE_KEY = Path("policies") / "demo-jwt-private.pem"
DEMO_KID = "demo-2025"


def mint_demo_token(
    config: Config,
    subject: str,
    *,
    tenant: str = "acme",
    roles: Sequence[str] = (),
    on_behalf_of: str | None = None,
    lifetime_s: int = 300,
    **claims: Any,
) -> str:
    """An RS256 token for ``subject`` from the demo issuer of ``config``, valid for ``lifetime_s`` seconds.

    ``claims`` adds or overrides claims (tests use it to make broken tokens). Nothing here
    checks the issuer's bounds: a token it may not grant is minted all the same.
    """
    issuer = demo_issuer(config)
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": subject,
        "tenant": tenant,
        "roles": list(roles),
        "iat": now,
        "exp": now + lifetime_s,
    }
    if on_behalf_of is not None:
        payload["on_behalf_of"] = on_behalf_of
    payload.update(claims)
    private_key = (config.config_dir / PRIVATE_KEY).read_bytes()
    return jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": DEMO_KID})


def demo_issuer(config: Config) -> JwtIssuer:
    issuer = next((entry for entry in config.gateway.jwt if entry.issuer == DEMO_ISSUER), None)
    if issuer is None:
        raise LookupError(f"{config.config_dir} configures no JWT issuer {DEMO_ISSUER}")
    return issuer


def refusal_of(config: Config, token: str) -> str | None:
    """Why the demo issuer's settings in ``config`` refuse ``token`` (an Unauthenticated detail), or None."""
    try:
        JwtAuthenticator([demo_issuer(config)]).authenticate(token)
    except Unauthenticated as exc:
        return exc.detail or "refused"
    return None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.demo.tokens", description="Mint a JWT from the demo identity provider (demo only)."
    )
    parser.add_argument("--config-dir", type=Path, default=Path.cwd(), help="holds policies/ (default: here)")
    parser.add_argument("--subject", required=True, help="who the agent is, e.g. support-bot")
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--roles", default="", help="comma-separated, e.g. support-agent")
    parser.add_argument("--on-behalf-of", default=None, help="the user the agent acts for")
    parser.add_argument("--lifetime-s", type=int, default=300)
    args = parser.parse_args(argv)
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    config = load_config(args.config_dir)
    token = mint_demo_token(
        config,
        args.subject,
        tenant=args.tenant,
        roles=roles,
        on_behalf_of=args.on_behalf_of,
        lifetime_s=args.lifetime_s,
    )
    refusal = refusal_of(config, token)
    if refusal is not None:
        click.echo(f"note: this gateway configuration refuses the token ({refusal})", err=True)
    print(token)


if __name__ == "__main__":
    main()
