"""MCP sessions: an unguessable id bound to the principal that opened it.

The store is an interface so that sessions can live in Redis when several
gateway processes serve one deployment; the in-memory store is the default.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from gateway.auth import Principal


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    subject: str
    tenant: str
    protocol_version: str

    def belongs_to(self, principal: Principal) -> bool:
        return self.subject == principal.subject and self.tenant == principal.tenant


class SessionStore(Protocol):
    async def open(self, principal: Principal, protocol_version: str) -> Session: ...

    async def get(self, session_id: str) -> Session | None: ...

    async def close(self, session_id: str) -> bool: ...


class MemorySessionStore:
    """Sessions in this process: least recently used evicted past ``max_sessions``, idle ones expire."""

    def __init__(self, *, idle_s: float, max_sessions: int) -> None:
        self._idle_s = idle_s
        self._max = max_sessions
        self._sessions: OrderedDict[str, tuple[Session, float]] = OrderedDict()

    async def open(self, principal: Principal, protocol_version: str) -> Session:
        session = Session(secrets.token_urlsafe(32), principal.subject, principal.tenant, protocol_version)
        self._sessions[session.id] = (session, time.monotonic())
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session

    async def get(self, session_id: str) -> Session | None:
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        session, last_seen = entry
        now = time.monotonic()
        if now - last_seen > self._idle_s:
            del self._sessions[session_id]
            return None
        self._sessions[session_id] = (session, now)
        self._sessions.move_to_end(session_id)
        return session

    async def close(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None
