"""The memory and Redis stores against the same cases: they must decide identically."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.store import Bucket, MemoryStore, RedisStore, Session, Store

HOUR = 3600.0


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(request.getfixturevalue("redis_url"))
    yield redis_store
    await redis_store.aclose()


def per_hour(key: str, requests: int, burst: int | None = None) -> Bucket:
    return Bucket(key=key, interval_s=HOUR / requests, burst=burst or requests)


async def test_exactly_n_calls_pass_a_limit_of_n(store: Store) -> None:
    bucket = per_hour("agent:a", 7)
    outcomes = [await store.take([bucket]) for _ in range(12)]
    assert [wait == 0 for wait in outcomes] == [True] * 7 + [False] * 5


async def test_exactly_n_of_many_concurrent_calls_pass(store: Store) -> None:
    """The decision is atomic: 60 calls racing for 10 places leave exactly 10 through."""
    bucket = per_hour("agent:race", 10)
    outcomes = await asyncio.gather(*(store.take([bucket]) for _ in range(60)))
    assert sum(wait == 0 for wait in outcomes) == 10


async def test_a_burst_smaller_than_the_rate_caps_calls_at_once(store: Store) -> None:
    bucket = per_hour("agent:b", 100, burst=3)
    outcomes = [await store.take([bucket]) for _ in range(5)]
    assert [wait == 0 for wait in outcomes] == [True, True, True, False, False]


async def test_a_refusal_says_how_long_to_wait(store: Store) -> None:
    bucket = per_hour("agent:c", 4)  # one call every 900 s once the burst is spent
    for _ in range(4):
        assert await store.take([bucket]) == 0
    wait = await store.take([bucket])
    assert 890 < wait <= 900


async def test_a_refused_call_counts_against_no_bucket(store: Store) -> None:
    narrow, wide = per_hour("agent:narrow", 1), per_hour("tenant:wide", 3)
    assert await store.take([narrow, wide]) == 0
    assert await store.take([narrow, wide]) > 0  # narrow is spent; wide must not be charged for it
    assert [await store.take([wide]) == 0 for _ in range(3)] == [True, True, False]


async def test_keys_are_independent(store: Store) -> None:
    first, second = per_hour("agent:one", 1), per_hour("agent:two", 1)
    assert await store.take([first]) == 0
    assert await store.take([first]) > 0
    assert await store.take([second]) == 0


async def test_allowance_returns_at_the_sustained_rate(store: Store) -> None:
    bucket = Bucket(key="agent:fast", interval_s=0.2, burst=2)
    assert await store.take([bucket]) == 0
    assert await store.take([bucket]) == 0
    wait = await store.take([bucket])
    assert 0 < wait <= 0.2
    await asyncio.sleep(wait + 0.05)
    assert await store.take([bucket]) == 0
    assert await store.take([bucket]) > 0


def session(session_id: str, subject: str = "support-bot", tenant: str = "acme") -> Session:
    return Session(session_id, subject, tenant, "2025-11-25")


async def save(store: Store, saved: Session, idle_s: float = HOUR, cap: int = 32) -> None:
    await store.save_session(saved, idle_s, max_per_principal=cap)


async def load(store: Store, wanted: Session, idle_s: float = HOUR) -> Session | None:
    """The session as its own principal asks for it."""
    return await store.load_session(wanted.id, idle_s, subject=wanted.subject, tenant=wanted.tenant)


async def test_sessions_are_saved_found_and_dropped(store: Store) -> None:
    saved = session("s-1")
    await save(store, saved)
    assert await load(store, saved) == saved
    assert await load(store, session("s-unknown")) is None
    assert await store.drop_session(saved) is True
    assert await store.drop_session(saved) is False
    assert await load(store, saved) is None


async def test_idle_sessions_expire_and_use_keeps_them(store: Store) -> None:
    busy, idle = session("busy"), session("idle")
    await save(store, busy, 0.5)
    await save(store, idle, 0.5)
    for _ in range(4):
        await asyncio.sleep(0.2)
        assert await load(store, busy, 0.5) is not None
    assert await load(store, idle, 0.5) is None


async def test_a_session_is_found_only_by_its_own_principal(store: Store) -> None:
    """Another subject, or the same subject in another tenant, finds nothing and cannot close it."""
    saved = session("s-mine")
    await save(store, saved)
    for subject, tenant in (("sales-bot", "acme"), ("support-bot", "globex")):
        assert await store.load_session(saved.id, HOUR, subject=subject, tenant=tenant) is None
        assert await store.drop_session(Session(saved.id, subject, tenant, "2025-11-25")) is False
    assert await load(store, saved) == saved


async def test_opening_past_the_cap_evicts_only_that_principals_least_recently_used(store: Store) -> None:
    """Three sessions for a cap of three; a fourth pushes out the one used longest ago, and nobody else's."""
    other = session("other-1", subject="sales-bot")
    await save(store, other, cap=3)
    mine = [session(f"mine-{n}") for n in range(3)]
    for opened in mine:
        await save(store, opened, cap=3)
    assert await load(store, mine[0]) is not None  # used again: now mine[1] is the least recently used
    await save(store, session("mine-3"), cap=3)
    assert [await load(store, s) is not None for s in mine] == [True, False, True]
    assert await load(store, session("mine-3")) is not None
    assert await load(store, other) == other
    for n in range(4, 20):  # many more: always exactly three of mine, the newest
        await save(store, session(f"mine-{n}"), cap=3)
    assert [await load(store, session(f"mine-{n}")) is not None for n in range(16, 20)] == [False, True, True, True]
    assert await load(store, other) == other


async def test_expired_sessions_do_not_count_against_the_cap(store: Store) -> None:
    """Two sessions left to expire free their places: two new ones evict nothing that is still alive."""
    idle_s = 1.5  # every wait below is at least 0.3 s from an edge, so a slow machine cannot flip an outcome
    kept = session("kept")
    await save(store, kept, idle_s, cap=3)
    await save(store, session("stale-1"), idle_s, cap=3)
    await save(store, session("stale-2"), idle_s, cap=3)
    await asyncio.sleep(0.9)
    assert await load(store, kept, idle_s) is not None  # kept alive; the two stale ones expire at 1.5 s
    await asyncio.sleep(0.9)
    await save(store, session("new-1"), idle_s, cap=3)
    await save(store, session("new-2"), idle_s, cap=3)
    assert await load(store, kept, idle_s) is not None  # the least recently used live one, yet not evicted
    assert await load(store, session("new-1"), idle_s) is not None
    assert await load(store, session("new-2"), idle_s) is not None


async def test_a_store_answers_ping(store: Store) -> None:
    await store.ping()
