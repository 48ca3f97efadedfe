"""The authenticated caller, as every stage sees it."""

from __future__ import annotations

from dataclasses import dataclass

#: What a subject is given to the policy behind, in a model with roles; no role name may start with it,
#: so no subject can ever be taken for a role (gateway.policy.subjects explains the two namespaces).
SUBJECT_PREFIX = "user:"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a subject within a tenant, holding roles there."""

    subject: str
    tenant: str
    roles: tuple[str, ...]
    method: str
    on_behalf_of: str | None = None
