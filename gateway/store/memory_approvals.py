"""Approval requests in this process: each operation runs without an await, so it is atomic on the loop."""

from __future__ import annotations

from gateway.approvals.record import ApprovalDecision, ApprovalRequest, ClaimOutcome, TooManyPending

#: Requests kept before forgotten ones are swept; the sweep runs again when the table has doubled since.
_SWEEP_AT = 1_000
#: Requests this process keeps at most, whatever their principals: a backstop for memory only (the
#: per-principal cap keeps any one agent far below it). Past it, new requests are refused.
MAX_REQUESTS = 100_000


class MemoryApprovals:
    def __init__(self, *, max_requests: int = MAX_REQUESTS) -> None:
        self._max_requests = max_requests
        self._requests: dict[str, ApprovalRequest] = {}
        #: When each request is forgotten: its expiry plus the keep time it was created with.
        self._forget_at: dict[str, float] = {}
        #: Digest to the id of its pending request (so a repeat without the id finds it).
        self._by_digest: dict[str, str] = {}
        #: (tenant, subject) to its pending requests' ids and expiries: what the per-principal cap counts.
        self._pending: dict[tuple[str, str], dict[str, float]] = {}
        self._sweep_at = _SWEEP_AT

    async def create(self, request: ApprovalRequest, *, now: float, keep_s: float, max_pending: int) -> ApprovalRequest:
        existing = self._requests.get(self._by_digest.get(request.digest, ""))
        if existing is not None and existing.state == "pending" and existing.expires_at > now:
            return existing
        if len(self._requests) >= self._sweep_at:
            self._sweep(now)
        owner = (request.tenant, request.subject)
        waiting = {id: at for id, at in self._pending.get(owner, {}).items() if at > now}
        if len(waiting) >= max_pending:
            raise TooManyPending(min(waiting.values()) - now)
        if len(self._requests) >= self._max_requests:
            raise TooManyPending(1.0)
        self._requests[request.id] = request
        self._forget_at[request.id] = request.expires_at + keep_s
        self._by_digest[request.digest] = request.id
        waiting[request.id] = request.expires_at
        self._pending[owner] = waiting
        return request

    async def get(self, approval_id: str) -> ApprovalRequest | None:
        return self._requests.get(approval_id)

    async def pending_count(self, *, now: float) -> int:
        return sum(1 for waiting in self._pending.values() for expires in waiting.values() if expires > now)

    async def for_tenant(self, tenant: str, *, now: float) -> list[ApprovalRequest]:
        found = [
            request for id, request in self._requests.items() if request.tenant == tenant and self._forget_at[id] > now
        ]
        return sorted(found, key=lambda request: request.created_at, reverse=True)

    async def decide(
        self, request: ApprovalRequest, decision: ApprovalDecision, *, now: float
    ) -> ApprovalRequest | None:
        current = self._requests.get(request.id)
        if current is None or current.state != "pending" or current.expires_at <= now:
            return None
        decided = current.decided(decision)
        self._requests[request.id] = decided
        self._pending.get((current.tenant, current.subject), {}).pop(request.id, None)
        if self._by_digest.get(current.digest) == request.id:
            del self._by_digest[current.digest]
        return decided

    async def claim(self, approval_id: str, digest: str, *, now: float) -> ClaimOutcome:
        current = self._requests.get(approval_id)
        if current is None:
            return "unknown"
        if current.digest != digest:
            return "mismatch"
        status = current.status(now)
        if status != "approved":
            return status
        self._requests[approval_id] = current.executed(now)
        return "claimed"

    def _sweep(self, now: float) -> None:
        """Forget requests past their keep time, and every index entry that points at them."""
        gone = [id for id, at in self._forget_at.items() if at <= now]
        for id in gone:
            request = self._requests.pop(id)
            del self._forget_at[id]
            if self._by_digest.get(request.digest) == id:
                del self._by_digest[request.digest]
            owner = (request.tenant, request.subject)
            waiting = self._pending.get(owner)
            if waiting is not None:
                waiting.pop(id, None)
                if not waiting:
                    del self._pending[owner]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._requests))
