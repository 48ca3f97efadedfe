"""What only the Redis store does: fail closed and fast when Redis is gone, come back by itself, keep no secrets."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import StoreUnavailable
from gateway.serving import bind_loopback, free_port
from gateway.store import Bucket, RedisStore, Session
from tests.redis_server import RedisServer

HOUR = 3600.0


def dead_url() -> str:
    """A loopback port nobody listens on: connections are refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


class SilentServer:
    """Accepts connections and never answers, like a Redis host that hangs; counts the connections."""

    def __init__(self) -> None:
        self.sock = bind_loopback(0)
        self.accepted = 0
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.connections.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis this test may kill."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


BUCKET = Bucket(key="agent:x", interval_s=HOUR / 3, burst=3)


async def test_unreachable_redis_refuses_rate_decisions_and_sessions() -> None:
    store = RedisStore(dead_url())
    with pytest.raises(StoreUnavailable) as refused:
        await store.take([BUCKET])
    assert refused.value.data["retry_after_s"] > 0
    session = Session("s", "a", "t", "2025-11-25")
    for operation in (
        store.save_session(session, HOUR, max_per_principal=4),
        store.load_session("s", HOUR, subject="a", tenant="t"),
        store.drop_session(session),
        store.ping(),
    ):
        with pytest.raises(StoreUnavailable):
            await operation
    await store.aclose()


async def test_a_tool_that_allows_it_falls_back_to_local_buckets() -> None:
    store = RedisStore(dead_url())
    outcomes = [await store.take([BUCKET], local_fallback=True) for _ in range(5)]
    assert [wait == 0 for wait in outcomes] == [True, True, True, False, False]
    await store.aclose()


async def test_a_hung_redis_is_waited_on_once_then_refused_without_touching_it(silent: SilentServer) -> None:
    store = RedisStore(silent.url + "?socket_timeout=0.3")
    with pytest.raises(StoreUnavailable):
        await store.take([BUCKET])  # waits out the socket timeout once
    accepted = silent.accepted
    results = await asyncio.gather(*(store.take([BUCKET]) for _ in range(50)), return_exceptions=True)
    assert all(isinstance(result, StoreUnavailable) for result in results)
    assert silent.accepted <= accepted + 1  # at most one trial; the rest never left the process
    await store.aclose()


async def test_killed_redis_is_refused_cleanly_and_recovered_from(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url)
    assert await store.take([BUCKET]) == 0
    own_redis.kill()
    for _ in range(5):
        with pytest.raises(StoreUnavailable):
            await store.take([BUCKET])
    own_redis.start()
    for _ in range(200):  # the store retries on its own; bounded so a regression fails instead of hanging
        try:
            assert await store.take([BUCKET]) == 0
            break
        except StoreUnavailable:
            await asyncio.sleep(0.05)
    else:
        pytest.fail("the store did not recover within 10 s of Redis returning")
    await store.aclose()


async def test_the_redis_password_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = RedisStore(dead_url().replace("redis://", "redis://:hunter2-secret@"))
    with pytest.raises(StoreUnavailable):
        await store.take([BUCKET])
    assert "unreachable" in caplog.text
    assert "hunter2" not in caplog.text
    await store.aclose()


async def test_session_ids_are_not_stored_in_the_clear(redis_url: str, redis_server: RedisServer) -> None:
    """Neither the session keys, their records nor the principal's index hold a usable id (or the principal)."""
    store = RedisStore(redis_url)
    await store.save_session(Session("the-secret-session-id", "a", "tenant-t", "2025-11-25"), HOUR, max_per_principal=4)
    with redis_server.client() as client:
        keys = [key.decode() for key in client.keys("*")]
        values = [
            client.get(key) or b"" if client.type(key) == b"string" else b" ".join(client.zrange(key, 0, -1))
            for key in keys
        ]
    assert len(keys) == 2 and not any("the-secret-session-id" in key or "tenant-t" in key for key in keys)
    assert not any(b"the-secret-session-id" in value for value in values)
    await store.aclose()


async def test_a_principals_session_index_holds_only_live_sessions_and_expires_with_them(
    redis_url: str, redis_server: RedisServer
) -> None:
    """Expired sessions are pruned from the index when the principal opens another; the index has the idle TTL."""
    store = RedisStore(redis_url)
    for n in range(3):
        await store.save_session(Session(f"old-{n}", "a", "t", "2025-11-25"), 0.3, max_per_principal=8)
    await asyncio.sleep(0.6)
    await store.save_session(Session("new", "a", "t", "2025-11-25"), 2.0, max_per_principal=8)
    with redis_server.client() as client:
        (index,) = client.keys("callgate:sessions-of:*")
        assert client.zcard(index) == 1
        assert 0 < client.pttl(index) <= 2000
        assert len(client.keys("callgate:session:*")) == 1
    await store.aclose()


async def test_an_evicted_session_leaves_nothing_behind_in_redis(redis_url: str, redis_server: RedisServer) -> None:
    store = RedisStore(redis_url)
    for n in range(5):
        await store.save_session(Session(f"s-{n}", "a", "t", "2025-11-25"), HOUR, max_per_principal=2)
    with redis_server.client() as client:
        assert len(client.keys("callgate:session:*")) == 2
        (index,) = client.keys("callgate:sessions-of:*")
        assert client.zcard(index) == 2
    await store.aclose()


async def test_buckets_expire_once_they_are_full_again(redis_url: str, redis_server: RedisServer) -> None:
    store = RedisStore(redis_url)
    await store.take([Bucket(key="agent:ttl", interval_s=2.0, burst=5)])
    with redis_server.client() as client:
        (key,) = client.keys("*agent:ttl*")
        assert 0 < client.pttl(key) <= 2001  # gone once the bucket would be full again: Redis does not grow
    await store.aclose()


async def test_a_caller_cancelled_while_its_batch_is_on_the_wire_leaves_the_others_answered(redis_url: str) -> None:
    store = RedisStore(redis_url)
    bucket = Bucket(key="agent:cancel", interval_s=HOUR / 10, burst=10)
    calls = [asyncio.ensure_future(store.take([bucket])) for _ in range(8)]
    await asyncio.sleep(0)  # every call has queued its decision
    calls[3].cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [result for index, result in enumerate(results) if index != 3] == [0.0] * 7
    # The cancelled caller's decision was made all the same: 8 spent, 2 left.
    assert [await store.take([bucket]) == 0 for _ in range(3)] == [True, True, False]
    await store.aclose()


async def test_closing_the_store_refuses_decisions_still_on_the_wire(silent: SilentServer) -> None:
    """A shutdown never leaves a caller waiting on a decision that will not come."""
    store = RedisStore(silent.url + "?socket_timeout=300")
    calls = [asyncio.ensure_future(store.take([BUCKET])) for _ in range(5)]
    for _ in range(1000):  # until the batch is on the wire (Redis will never answer it); at most 10 s
        if silent.accepted:
            break
        await asyncio.sleep(0.01)
    assert silent.accepted
    await store.aclose()
    # Bounded far beyond what it takes, so that a regression fails here instead of waiting out the 300 s.
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)
    assert all(isinstance(result, StoreUnavailable) for result in results)
