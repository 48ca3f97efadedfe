"""The store interface: where state that outlives one call lives (rate-limit buckets, MCP sessions, approvals).

Two implementations share these semantics: :class:`~gateway.store.memory.MemoryStore`
(one process, the default) and :class:`~gateway.store.redis.RedisStore` (shared by every
gateway process pointed at one Redis). A store that cannot answer raises
:class:`~gateway.errors.StoreUnavailable` at once; callers refuse rather than guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.auth.principal import Principal

if TYPE_CHECKING:
    from gateway.approvals.record import ApprovalDecision, ApprovalRequest, ClaimOutcome


@dataclass(frozen=True, slots=True)
class Session:
    """An MCP session as the store keeps it: its unguessable id, the principal that opened it, its revision.

    Opened, found and closed through :class:`gateway.sessions.Sessions`.
    """

    id: str
    subject: str
    tenant: str
    protocol_version: str

    def belongs_to(self, principal: Principal) -> bool:
        return self.subject == principal.subject and self.tenant == principal.tenant


@dataclass(frozen=True, slots=True)
class Bucket:
    """One GCRA limit on one key: ``burst`` calls at once, then one every ``interval_s``.

    GCRA keeps one number per key, the theoretical arrival time (TAT) of the next
    call at the sustained rate. A call at ``now`` conforms when
    ``max(TAT, now) - tolerance_s <= now``, and then moves TAT on by ``interval_s``.
    From idle, exactly ``burst`` calls conform at once; after that one per interval.
    """

    key: str
    interval_s: float
    burst: int

    @property
    def tolerance_s(self) -> float:
        return self.interval_s * (self.burst - 1)


class ApprovalStore(Protocol):
    """Requests for human approval (gateway.approvals.record), each change one atomic step.

    ``now`` is the caller's wall clock (seconds since the epoch): expiry is judged by it, the same way
    in every process. A request is forgotten ``keep_s`` after its expiry.
    """

    async def create(self, request: ApprovalRequest, *, now: float, keep_s: float, max_pending: int) -> ApprovalRequest:
        """Keep ``request`` (pending, with its arguments), or return the one in force instead.

        When the same principal already has a pending, unexpired request with the same digest, that one
        is returned and nothing is stored: an agent repeating its call without the id adds nothing.
        Raises :class:`~gateway.approvals.record.TooManyPending` when the principal already has
        ``max_pending`` requests waiting.
        """
        ...

    async def get(self, approval_id: str) -> ApprovalRequest | None:
        """The request, whatever its state, until it is forgotten."""
        ...

    async def pending_count(self, *, now: float) -> int:
        """How many requests, of every tenant, wait for a decision and have not expired."""
        ...

    async def for_tenant(self, tenant: str, *, now: float) -> list[ApprovalRequest]:
        """The tenant's requests not yet forgotten, whatever their state, newest first."""
        ...

    async def decide(
        self, request: ApprovalRequest, decision: ApprovalDecision, *, now: float
    ) -> ApprovalRequest | None:
        """Record ``decision`` if the request is still pending and unexpired, dropping its arguments.

        Returns the decided request; None when it was not pending any more (decided meanwhile, expired,
        forgotten), and then nothing changes.
        """
        ...

    async def claim(self, approval_id: str, digest: str, *, now: float) -> ClaimOutcome:
        """Spend an approval: ``claimed`` exactly once for an approved, unexpired request with this digest.

        Every other caller, concurrent or later, in this process or another, gets why not.
        """
        ...


class Store(Protocol):
    #: "memory" or "redis": what metrics and logs call it.
    kind: str

    @property
    def approvals(self) -> ApprovalStore:
        """Requests for human approval; shared by every process when the store is."""
        ...

    @property
    def answering(self) -> bool:
        """False while the store is known to be down and callgate refuses what needs it."""
        ...

    async def take(self, buckets: Sequence[Bucket], *, local_fallback: bool = False) -> float:
        """Count one call against every bucket, atomically: all or none.

        Returns 0.0 when the call conforms to every bucket (and is counted in each);
        otherwise the seconds until it would, and nothing is counted. With
        ``local_fallback``, a shared store that cannot answer decides from this
        process's own buckets instead of raising StoreUnavailable.
        """
        ...

    async def save_session(self, session: Session, idle_s: float, *, max_per_principal: int) -> None:
        """Keep ``session`` until it has been idle for ``idle_s``, atomically making room for it.

        Its principal (subject and tenant) then holds at most ``max_per_principal`` sessions: the
        principal's least recently used ones beyond that are dropped, never another principal's.
        Sessions already idle for ``idle_s`` do not count.
        """
        ...

    async def load_session(self, session_id: str, idle_s: float, *, subject: str, tenant: str) -> Session | None:
        """The session, its idle timer restarted, if it belongs to ``subject`` in ``tenant``.

        None when unknown, closed, expired, evicted, or another principal's (whose timer is left alone).
        """
        ...

    async def drop_session(self, session: Session) -> bool:
        """Forget the session; False when there was none."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise StoreUnavailable when it does not."""
        ...

    async def aclose(self) -> None: ...
