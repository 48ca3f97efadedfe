"""The demo's published credentials, known by their fingerprints, and where a configuration holds them.

``policies/demo-keys.env`` and ``policies/demo-jwt-private.pem`` are public, so
anyone can present those API keys or sign a token with that key and claim
whatever it allows. They are recognised by content, not by file name: a copy of
the shipped configuration under another name holds them just the same. Only
fingerprints live here (SHA-256 of each key, as gateway.yaml stores it, and of
the public key's DER SubjectPublicKeyInfo), never the credentials themselves.

``callgate serve`` refuses to start with any of them on an address other than
loopback unless told ``--allow-demo-credentials``, and a reload that brings one
in on such a server is refused (see gateway/app.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.config.model import Config

#: SHA-256 of each key in policies/demo-keys.env (support, sales, finance, admin, finance approver).
DEMO_API_KEY_HASHES = frozenset(
    {
        "3eef5a79b4c3dd70ee55e454f15045be3749daee7a8053cea4423ccb88c3c6db",
        "3988f34edc8b9989cd708787a13eb7e8c3b49c7031070dd39413bf9af1e4bda1",
        "df5ca4e7b2be871d3a21a036567507f8ae1c5c38a252ed1d41bccb8e38aca359",
        "fff756a93bbc7a2457a23a4ccaed5f64e04cefbcda096f96796da27972dac377",
        "e99806e62059eaacd84b4b2d9946645b02d39a297a1bbae1f52387d193735d3a",
    }
)

#: SHA-256 of the DER SubjectPublicKeyInfo of policies/demo-jwt-public.pem.
DEMO_JWT_KEY_SHA256 = "8f9a887a7dbb775fcf3a1dcedf81a058e6c494371823610d163887916e191141"

ALLOW_FLAG = "--allow-demo-credentials"


def demo_credentials_in(config: Config) -> tuple[str, ...]:
    """One line for each place ``config`` accepts a published demo credential; empty when it accepts none.

    Keys an issuer fetches from a ``jwks_url`` are not known before it serves and are not checked.
    """
    found: list[str] = []
    subjects = [entry.subject for entry in config.gateway.api_keys if entry.sha256 in DEMO_API_KEY_HASHES]
    if subjects:
        found.append(
            f"principals.api_keys: {', '.join(subjects)} hold the published demo API keys of policies/demo-keys.env"
        )
    for issuer in config.gateway.jwt:
        if any(_public_key_sha256(key.key) == DEMO_JWT_KEY_SHA256 for key in issuer.keys):
            found.append(
                f"principals.jwt ({issuer.issuer}): the demo identity provider's public key, whose private key "
                "is published in policies/demo-jwt-private.pem, so anyone can sign tokens it accepts"
            )
    return tuple(found)


def refusal_message(found: tuple[str, ...], listen_host: str) -> str:
    """What ``callgate serve`` says when it will not serve ``found`` on ``listen_host``."""
    lines = [f"refusing to serve the published demo credentials on {listen_host}, which is not a loopback address:"]
    lines += [f"  - {item}" for item in found]
    lines += [
        "Anyone can use these to call every tool this configuration allows, with any of its roles.",
        "Make your own API keys with `callgate keys new` and configure your identity provider's public key,",
        f"or, for a demo you mean to expose, pass {ALLOW_FLAG}.",
    ]
    return "\n".join(lines)


def _public_key_sha256(key: Any) -> str | None:
    """The fingerprint of an asymmetric public key; None for a shared secret (HS256 bytes)."""
    if isinstance(key, bytes | str):
        return None
    public: PublicKeyTypes = key
    return hashlib.sha256(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
