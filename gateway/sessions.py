"""MCP sessions: an unguessable id bound to the principal that opened it, kept in the store.

Sessions live in the store so that, with Redis, a session opened on one gateway
process is honoured by every other; with the memory store they live in this
process. Idle sessions expire after ``server.session_idle_s``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.auth import Principal

if TYPE_CHECKING:
    from gateway.store import Store


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    subject: str
    tenant: str
    protocol_version: str

    def belongs_to(self, principal: Principal) -> bool:
        return self.subject == principal.subject and self.tenant == principal.tenant


class Sessions:
    """Opens, finds and closes sessions; the store keeps them. A store fault raises StoreUnavailable."""

    def __init__(self, store: Store, *, idle_s: float) -> None:
        self._store = store
        self._idle_s = idle_s

    async def open(self, principal: Principal, protocol_version: str) -> Session:
        session = Session(secrets.token_urlsafe(32), principal.subject, principal.tenant, protocol_version)
        await self._store.save_session(session, self._idle_s)
        return session

    async def get(self, session_id: str) -> Session | None:
        return await self._store.load_session(session_id, self._idle_s)

    async def close(self, session_id: str) -> bool:
        return await self._store.drop_session(session_id)
