"""Subjects and roles are two namespaces: no subject name can ever be taken for a role.

A subject is whatever an API key entry or an identity provider says (a JWT's
``sub``); a role is a name the security team gives rights to. Casbin's ``g()``
holds for two equal names, so if ``r.sub`` were the bare subject, a token
with ``sub: admin`` and no roles would match every rule for the role
``admin``. So in a model with a role definition (``g``), callgate fills
``r.sub`` with the subject behind a reserved prefix, ``user:NAME``:

- a bare name in a ``p`` or ``g`` line is a role; a caller holds it only
  through its roles (the API key's ``roles``, the token's role claim) or
  through ``g`` lines;
- a rule (or a ``g`` line) for one subject names it ``user:NAME``:
  ``p, user:ops-bot, acme, reports.daily, call, allow`` or
  ``g, user:ops-bot, finance-agent, acme``;
- a role name may not start with ``user:``: such a role is refused at load
  (API keys, JWT issuers' ``allowed_roles``, the role side of ``g`` lines)
  and ignored when a request carries it, so no role claim can stand for a
  subject.

The prefix is in ``r.sub`` itself, so it holds wherever the matcher reads
``r.sub`` (also in ``r.sub == p.sub`` beside ``g``). A model without ``g``
(Casbin's ACL example: ``r.sub == p.sub``) has no roles to confuse, and sees
the plain subject.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.auth.principal import SUBJECT_PREFIX
from gateway.config import Config, ConfigError
from gateway.config.files import line_of

if TYPE_CHECKING:
    from gateway.policy.rules import PolicyLine


#: The role definition whose names are roles and subjects (``g2``... relate other things, e.g. tools).
ROLE_TYPE = "g"


def subject_name(subject: str) -> str:
    """The name a subject has in the role graph of a model with roles: ``user:NAME``."""
    return SUBJECT_PREFIX + subject


def is_reserved(role: str) -> bool:
    """Whether ``role`` is spelled like a subject, so it cannot be a role."""
    return role.startswith(SUBJECT_PREFIX)


def refuse_reserved_roles(config: Config, lines: list[PolicyLine]) -> None:
    """Raise ConfigError, with file and line, for the first role name spelled like a subject."""
    for problem in _reserved_roles(config, lines):
        raise problem


def _reserved_roles(config: Config, lines: list[PolicyLine]) -> Iterator[ConfigError]:
    why = f"role names may not start with {SUBJECT_PREFIX!r}, which names one subject"
    for link in lines:
        if link.key == ROLE_TYPE and len(link.values) > 1 and is_reserved(link.values[1]):
            yield ConfigError(link.file, f"{link.values[1]!r}: {why}", line=link.line)
    gateway = config.config_dir / "policies" / "gateway.yaml"
    for index, entry in enumerate(config.gateway.api_keys):
        for position, role in enumerate(entry.roles):
            if is_reserved(role):
                yield _at(gateway, ["principals", "api_keys", index, "roles", position], f"{role!r}: {why}")
    for index, issuer in enumerate(config.gateway.jwt):
        for position, role in enumerate(issuer.allowed_roles or ()):
            if is_reserved(role):
                yield _at(gateway, ["principals", "jwt", index, "allowed_roles", position], f"{role!r}: {why}")


def _at(path: Path, parts: list[str | int], message: str) -> ConfigError:
    return ConfigError(path, message, line=line_of(path, parts))
