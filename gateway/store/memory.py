"""The in-process store: the default, and the local fallback when a tool allows one while Redis is down."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from gateway.store import gcra
from gateway.store.base import Bucket, Session
from gateway.store.memory_approvals import MemoryApprovals

#: Buckets kept before idle ones are swept; the sweep runs again when the table has doubled since.
_SWEEP_AT = 10_000


class MemoryStore:
    """State in this process only: every decision is made without an await, so it is atomic on its loop."""

    kind = "memory"

    def __init__(self, *, max_sessions: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._sweep_at = _SWEEP_AT
        self._max_sessions = max_sessions
        # id -> (session, last seen); least recently used first. Past max_sessions the oldest of anyone's
        # goes: a backstop for memory only, since the per-principal cap keeps any one agent well below it.
        self._sessions: OrderedDict[str, tuple[Session, float]] = OrderedDict()
        # (tenant, subject) -> that principal's session ids, least recently used first: what its cap evicts.
        self._owned: dict[tuple[str, str], OrderedDict[str, None]] = {}
        self.approvals = MemoryApprovals()

    @property
    def answering(self) -> bool:
        return True

    async def take(self, buckets: Sequence[Bucket], *, local_fallback: bool = False) -> float:
        return self.take_now(buckets)  # this store always answers: there is nothing to fall back from

    def take_now(self, buckets: Sequence[Bucket]) -> float:
        """:meth:`take` without a coroutine, for callers already on the loop (the Redis store's fallback)."""
        now = self._clock()
        tats = self._tats
        wait, new = gcra.take(buckets, now, lambda key: tats.get(key, 0.0))
        if wait:
            return wait
        for bucket, tat in zip(buckets, new, strict=True):
            tats[bucket.key] = tat
        if len(tats) > self._sweep_at:
            self._sweep(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        """Forget buckets back at rest: a TAT in the past means the bucket is full, the same as no entry."""
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._tats))

    async def save_session(self, session: Session, idle_s: float, *, max_per_principal: int) -> None:
        now = self._clock()
        owned = self._owned.get((session.tenant, session.subject))
        while owned:
            oldest = next(iter(owned))
            expired = now - self._sessions[oldest][1] > idle_s
            if not expired and len(owned) < max_per_principal:
                break
            self._forget(oldest)  # expired sessions first, so they never count against the cap
        self._sessions[session.id] = (session, now)
        self._owned.setdefault((session.tenant, session.subject), OrderedDict())[session.id] = None
        while len(self._sessions) > self._max_sessions:
            self._forget(next(iter(self._sessions)))

    async def load_session(self, session_id: str, idle_s: float, *, subject: str, tenant: str) -> Session | None:
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        session, last_seen = entry
        if session.subject != subject or session.tenant != tenant:
            return None
        now = self._clock()
        if now - last_seen > idle_s:
            self._forget(session_id)
            return None
        self._sessions[session_id] = (session, now)
        self._sessions.move_to_end(session_id)
        self._owned[(tenant, subject)].move_to_end(session_id)
        return session

    async def drop_session(self, session: Session) -> bool:
        entry = self._sessions.get(session.id)
        if entry is None or (entry[0].subject, entry[0].tenant) != (session.subject, session.tenant):
            return False
        self._forget(session.id)
        return True

    def _forget(self, session_id: str) -> None:
        """Remove a session from both tables, which always hold the same ids."""
        session, _ = self._sessions.pop(session_id)
        owner = (session.tenant, session.subject)
        owned = self._owned[owner]
        del owned[session_id]
        if not owned:
            del self._owned[owner]

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
