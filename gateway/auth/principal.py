"""The authenticated caller, as every stage sees it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a subject within a tenant, holding roles there."""

    subject: str
    tenant: str
    roles: tuple[str, ...]
    method: str
    on_behalf_of: str | None = None
