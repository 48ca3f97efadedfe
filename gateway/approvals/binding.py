"""What ties an approval to exactly one call: a digest of the call, and an unguessable request id.

The digest is SHA-256 over the RFC 8785 canonical JSON of the tool, the arguments, the subject, the
tenant and the configuration version. Any change to one of them (another amount, another agent, a
reloaded policy) gives another digest, and the approval no longer matches. RFC 8785 makes the bytes
independent of key order and number spelling, so ``{"amount": 450.0}`` and ``{"amount": 450}`` are one
call, as they are to the backend.

The digest is not keyed: every gateway process sharing a store must compute the same one. It is kept in
the store beside the arguments themselves (while pending), and never shown, logged or audited, since a
hash of a few small values can be reversed by guessing them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from gateway.audit.canonical import canonical

#: Request ids: ``apr-`` and 128 random bits in hex, within ``_meta``'s id alphabet ``[A-Za-z0-9._:-]``.
ID_PREFIX = "apr-"


def new_id() -> str:
    return ID_PREFIX + secrets.token_hex(16)


def call_digest(tool: str, arguments: Mapping[str, Any], subject: str, tenant: str, config_version: str) -> str:
    bound = {
        "tool": tool,
        "arguments": dict(arguments),
        "subject": subject,
        "tenant": tenant,
        "config_version": config_version,
    }
    return "sha256:" + hashlib.sha256(canonical(bound)).hexdigest()
