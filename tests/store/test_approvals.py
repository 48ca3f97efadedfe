"""Approval requests in the memory and Redis stores: the same answers, each change atomic, claims single-use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import redis

from gateway.approvals.binding import call_digest, new_id
from gateway.approvals.record import ApprovalDecision, ApprovalRequest, TooManyPending
from gateway.errors import StoreUnavailable
from gateway.store import MemoryStore, RedisStore, Store
from tests.store.test_redis import dead_url

KEEP = 3600.0
ARGUMENTS = {"customer_id": "C1001", "amount": 450, "currency": "EUR"}


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(request.getfixturevalue("redis_url"))
    yield redis_store
    await redis_store.aclose()


def waiting(now: float, *, subject: str = "finance-bot", tenant: str = "acme", amount: float = 450) -> ApprovalRequest:
    arguments = {**ARGUMENTS, "amount": amount}
    return ApprovalRequest(
        id=new_id(),
        tool="billing.issue_refund",
        subject=subject,
        tenant=tenant,
        roles=("finance-agent",),
        digest=call_digest("billing.issue_refund", arguments, subject, tenant, "v1"),
        config_version="v1",
        created_at=now,
        expires_at=now + 900,
        required_by="policies/policy.csv:71",
        request_id="req-1",
        arguments=arguments,
    )


def decision(now: float, approved: bool = True) -> ApprovalDecision:
    return ApprovalDecision(approved, "finance-lead", now, "looks right")


async def create(store: Store, request: ApprovalRequest, now: float, max_pending: int = 20) -> ApprovalRequest:
    return await store.approvals.create(request, now=now, keep_s=KEEP, max_pending=max_pending)


async def test_a_request_is_kept_with_its_arguments_and_found_by_id(store: Store) -> None:
    now = time.time()
    request = waiting(now)
    assert await create(store, request, now) == request
    found = await store.approvals.get(request.id)
    assert found == request and found.arguments == ARGUMENTS
    assert found.status(now) == "pending"
    assert await store.approvals.get(new_id()) is None


async def test_the_same_call_while_pending_finds_the_first_request_again(store: Store) -> None:
    now = time.time()
    first = waiting(now)
    await create(store, first, now)
    again = await create(store, waiting(now + 1), now + 1)
    assert again.id == first.id
    other = await create(store, waiting(now + 2, amount=451), now + 2)
    assert other.id != first.id


async def test_a_principal_may_have_only_so_many_requests_waiting(store: Store) -> None:
    now = time.time()
    for amount in (300, 301, 302):
        await create(store, waiting(now, amount=amount), now, max_pending=3)
    with pytest.raises(TooManyPending) as refused:
        await create(store, waiting(now, amount=303), now, max_pending=3)
    assert 899 <= refused.value.retry_after_s <= 901
    # Another principal is not held back by it.
    await create(store, waiting(now, subject="other-bot", amount=303), now, max_pending=3)


async def test_a_decided_request_no_longer_counts_against_the_cap(store: Store) -> None:
    now = time.time()
    first = await create(store, waiting(now, amount=300), now, max_pending=1)
    assert await store.approvals.decide(first, decision(now), now=now) is not None
    await create(store, waiting(now, amount=301), now, max_pending=1)


async def test_a_decision_is_taken_once_and_drops_the_arguments(store: Store) -> None:
    now = time.time()
    request = await create(store, waiting(now), now)
    decided = await store.approvals.decide(request, decision(now), now=now)
    assert decided is not None and decided.state == "approved" and decided.arguments is None
    assert decided.decision == decision(now)
    assert await store.approvals.decide(request, decision(now, approved=False), now=now) is None
    stored = await store.approvals.get(request.id)
    assert stored is not None and stored.state == "approved" and stored.arguments is None


async def test_two_approvers_racing_decide_once(store: Store) -> None:
    now = time.time()
    request = await create(store, waiting(now), now)
    answers = await asyncio.gather(
        *(store.approvals.decide(request, decision(now, approved=i % 2 == 0), now=now) for i in range(10))
    )
    assert sum(answer is not None for answer in answers) == 1


async def test_an_expired_request_cannot_be_decided(store: Store) -> None:
    now = time.time()
    request = await create(store, waiting(now), now)
    assert await store.approvals.decide(request, decision(now), now=request.expires_at) is None
    stored = await store.approvals.get(request.id)
    assert stored is not None and stored.status(request.expires_at) == "expired"


async def test_a_claim_spends_an_approval_once(store: Store) -> None:
    now = time.time()
    request = await create(store, waiting(now), now)
    assert await store.approvals.claim(request.id, request.digest, now=now) == "pending"
    await store.approvals.decide(request, decision(now), now=now)
    assert await store.approvals.claim(request.id, "sha256:other", now=now) == "mismatch"
    assert await store.approvals.claim(request.id, request.digest, now=now) == "claimed"
    assert await store.approvals.claim(request.id, request.digest, now=now) == "executed"
    assert await store.approvals.claim(new_id(), request.digest, now=now) == "unknown"
    executed = await store.approvals.get(request.id)
    assert executed is not None and executed.state == "executed" and executed.executed_at is not None


async def test_of_many_concurrent_claims_exactly_one_wins(store: Store) -> None:
    now = time.time()
    request = await create(store, waiting(now), now)
    await store.approvals.decide(request, decision(now), now=now)
    outcomes = await asyncio.gather(*(store.approvals.claim(request.id, request.digest, now=now) for _ in range(50)))
    assert outcomes.count("claimed") == 1
    assert set(outcomes) == {"claimed", "executed"}


async def test_denied_and_expired_approvals_are_never_claimed(store: Store) -> None:
    now = time.time()
    denied = await create(store, waiting(now, amount=300), now)
    await store.approvals.decide(denied, decision(now, approved=False), now=now)
    assert await store.approvals.claim(denied.id, denied.digest, now=now) == "denied"
    late = await create(store, waiting(now, amount=301), now)
    await store.approvals.decide(late, decision(now), now=now)
    assert await store.approvals.claim(late.id, late.digest, now=late.expires_at + 1) == "expired"


async def test_a_tenant_lists_its_own_requests_newest_first(store: Store) -> None:
    now = time.time()
    older = await create(store, waiting(now, amount=300), now)
    newer = await create(store, waiting(now + 1, amount=301), now + 1)
    await create(store, waiting(now, tenant="globex"), now)
    listed = await store.approvals.for_tenant("acme", now=now + 2)
    assert [request.id for request in listed] == [newer.id, older.id]


async def test_a_memory_request_is_forgotten_keep_s_after_it_expires() -> None:
    store = MemoryStore()
    now = time.time()
    request = await create(store, waiting(now), now)
    gone_at = request.expires_at + KEEP + 1
    assert [r.id for r in await store.approvals.for_tenant("acme", now=request.expires_at + 1)] == [request.id]
    assert await store.approvals.for_tenant("acme", now=gone_at) == []


@pytest.mark.redis
async def test_a_redis_request_expires_keep_s_after_its_expiry(redis_url: str) -> None:
    store = RedisStore(redis_url)
    now = time.time()
    request = await create(store, replace(waiting(now), expires_at=now + 60), now)
    with redis.Redis.from_url(redis_url) as client:
        ttl_ms = client.pttl(f"callgate:approval:{request.id}")
        names = [key.decode() for key in client.keys("callgate:*")]
    assert (60 + KEEP - 5) * 1000 < ttl_ms <= (60 + KEEP) * 1000
    assert not any("finance-bot" in name or "acme" in name for name in names), "principals are hashed in key names"
    await store.aclose()


@pytest.mark.redis
async def test_two_stores_on_one_redis_claim_once_between_them(redis_url: str) -> None:
    """Two gateway processes are two clients: of their concurrent claims one wins."""
    first, second = RedisStore(redis_url), RedisStore(redis_url)
    now = time.time()
    request = await create(first, waiting(now), now)
    assert await second.approvals.decide(request, decision(now), now=now) is not None
    claims = [(first if i % 2 else second).approvals.claim(request.id, request.digest, now=now) for i in range(40)]
    outcomes = await asyncio.gather(*claims)
    assert outcomes.count("claimed") == 1
    await first.aclose()
    await second.aclose()


async def test_an_unreachable_redis_refuses_every_approval_operation() -> None:
    """Fail closed: no approval is created, shown, decided or spent from anywhere but the shared store."""
    store = RedisStore(dead_url())
    now = time.time()
    request = waiting(now)
    for operation in (
        store.approvals.create(request, now=now, keep_s=KEEP, max_pending=20),
        store.approvals.get(request.id),
        store.approvals.for_tenant("acme", now=now),
        store.approvals.decide(request, decision(now), now=now),
        store.approvals.claim(request.id, request.digest, now=now),
    ):
        with pytest.raises(StoreUnavailable):
            await operation
    await store.aclose()


async def test_the_pending_count_covers_every_tenant_and_drops_decided_and_expired_requests(store: Store) -> None:
    now = time.time()
    before = await store.approvals.pending_count(now=now)
    first = await create(store, waiting(now, tenant="acme"), now)
    await create(store, waiting(now, tenant="globex", subject="other-bot"), now)
    assert await store.approvals.pending_count(now=now) == before + 2
    assert await store.approvals.decide(first, decision(now), now=now) is not None
    assert await store.approvals.pending_count(now=now) == before + 1
    # Past their expiry (900 s), neither counts, whatever this test's neighbours left behind.
    assert await store.approvals.pending_count(now=now + 901) <= before
