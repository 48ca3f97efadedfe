"""MCP sessions: an unguessable id bound to the principal that opened it, kept in the store.

Sessions live in the store so that, with Redis, a session opened on one gateway
process is honoured by every other; with the memory store they live in this
process. Idle sessions expire after ``server.session_idle_s``.

Each principal (subject and tenant) holds at most ``server.max_sessions_per_principal``
sessions: opening one more closes that principal's least recently used one, never
another principal's, so no agent can push everyone else's sessions out. A session
is looked up only among its caller's own: another principal's id is not found, and
asking for it does not keep it alive.
"""

from __future__ import annotations

import secrets

from gateway.auth import Principal
from gateway.store import Session, Store


class Sessions:
    """Opens, finds and closes sessions; the store keeps them. A store fault raises StoreUnavailable."""

    def __init__(self, store: Store, *, idle_s: float) -> None:
        self._store = store
        self._idle_s = idle_s

    async def open(self, principal: Principal, protocol_version: str, *, max_per_principal: int) -> Session:
        session = Session(secrets.token_urlsafe(32), principal.subject, principal.tenant, protocol_version)
        await self._store.save_session(session, self._idle_s, max_per_principal=max_per_principal)
        return session

    async def get(self, session_id: str, principal: Principal) -> Session | None:
        """``principal``'s session with this id, its idle timer restarted; None for any other."""
        return await self._store.load_session(
            session_id, self._idle_s, subject=principal.subject, tenant=principal.tenant
        )

    async def close(self, session: Session) -> bool:
        return await self._store.drop_session(session)


__all__ = ["Session", "Sessions"]
