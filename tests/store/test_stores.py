"""The memory and Redis stores against the same cases: they must decide identically."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.sessions import Session
from gateway.store import Bucket, MemoryStore, RedisStore, Store

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


async def test_sessions_are_saved_found_and_dropped(store: Store) -> None:
    session = Session("s-1", "support-bot", "acme", "2025-11-25")
    await store.save_session(session, HOUR)
    assert await store.load_session("s-1", HOUR) == session
    assert await store.load_session("s-unknown", HOUR) is None
    assert await store.drop_session("s-1") is True
    assert await store.drop_session("s-1") is False
    assert await store.load_session("s-1", HOUR) is None


async def test_idle_sessions_expire_and_use_keeps_them(store: Store) -> None:
    await store.save_session(Session("busy", "a", "t", "2025-11-25"), 0.5)
    await store.save_session(Session("idle", "a", "t", "2025-11-25"), 0.5)
    for _ in range(4):
        await asyncio.sleep(0.2)
        assert await store.load_session("busy", 0.5) is not None
    assert await store.load_session("idle", 0.5) is None


async def test_a_store_answers_ping(store: Store) -> None:
    await store.ping()
