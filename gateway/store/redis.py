"""The Redis store: state shared by every gateway process pointed at one Redis (``CALLGATE_REDIS_URL``).

Approval requests live here too (gateway.store.redis_approvals), through the same guard.

Each rate-limit decision is one Lua script, so it is atomic across processes
and uses Redis's clock, not each process's. Sessions are keys with an idle TTL
that every use restarts; they are stored under a hash of their id, so a dump of
Redis holds no usable session id. Each principal's sessions are also indexed in
a sorted set (session hash by last use), which its cap evicts from and which
expires with the principal's last session; every session operation is one script
over the session key and that index.

Redis must never stall a call. Commands have short socket timeouts and at most
one immediate retry (for a pooled connection that went stale). When Redis stops
answering, the store is marked down: calls are refused at once with
:class:`~gateway.errors.StoreUnavailable` (or served by the local fallback when
the tool allows one) without touching the network, and one trial command every
``_RETRY_S`` finds out when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.errors import StoreUnavailable
from gateway.jsoncodec import DecodeError, dumps, loads
from gateway.store.base import Bucket, Session
from gateway.store.memory import MemoryStore
from gateway.store.redis_approvals import RedisApprovals

log = logging.getLogger("callgate.store")

T = TypeVar("T")

#: Seconds a command may wait on Redis before the store counts it down (unless the URL says otherwise).
DEFAULT_TIMEOUT_S = 0.5
#: Seconds between trial commands while Redis is down.
_RETRY_S = 0.5
_PREFIX = "callgate:"

# A batch of decisions, made one after another inside one atomic script (so two decisions on one key
# see each other). ARGV[1]: how many decisions; then, per decision, its number of buckets followed by
# each bucket's interval and tolerance in microseconds. KEYS: every decision's bucket keys, in order.
# Returns each decision's wait in microseconds, 0 when it conformed (its buckets are then moved on).
# string.format("%.0f") because Lua's tostring would write a TAT as 1.7e+15 and lose its digits.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local results = {}
local k, a = 1, 2
for d = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  a = a + 1
  local wait, new = 0, {}
  for i = 0, n - 1 do
    local tat = tonumber(redis.call('GET', KEYS[k + i]) or '0')
    if tat < now then tat = now end
    local early = tat - tonumber(ARGV[a + 2 * i + 1]) - now
    if early > wait then wait = early end
    new[i] = tat + tonumber(ARGV[a + 2 * i])
  end
  if wait > 0 then
    results[d] = math.ceil(wait)
  else
    for i = 0, n - 1 do
      redis.call('SET', KEYS[k + i], string.format('%.0f', new[i]), 'PX', math.ceil((new[i] - now) / 1000) + 1)
    end
    results[d] = 0
  end
  k, a = k + n, a + 2 * n
end
return results
"""

#: Decisions sent in one script call at most; more wait for the next.
_MAX_BATCH = 256

# Session scripts. KEYS[1]: the session's key; KEYS[2]: its principal's index, a sorted set of the
# principal's session hashes scored by last use (µs on Redis's clock, so that calls in one millisecond
# keep their order; written with %.0f, as tostring would round them), expiring with the newest of them.
# ARGV[1]: the session's hash (its key's last part); ARGV[2]: the idle timeout in ms. A score older
# than the timeout is a session already gone: pruned first, so it never counts against the cap.
# ARGV[3]: the record; ARGV[4]: the principal's cap; ARGV[5]: the prefix of session keys. The evicted
# sessions' keys are derived from their hashes here: Redis allows it outside cluster mode, which the
# store does not support anyway (its scripts span keys of several hash slots).
_SAVE_SESSION = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local idle = tonumber(ARGV[2])
local live_after = string.format('%.0f', now - idle * 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', live_after)
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4]) + 1
if excess > 0 then
  for _, hash in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    redis.call('DEL', ARGV[5] .. hash)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', idle)
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[1])
redis.call('PEXPIRE', KEYS[2], idle)
return 0
"""

# Only a session in the caller's own index is found (and kept alive): another principal's is not.
_LOAD_SESSION = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local idle = tonumber(ARGV[2])
local live_after = string.format('%.0f', now - idle * 1000)
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not seen then return false end
local value = false
if tonumber(seen) > tonumber(live_after) then value = redis.call('GETEX', KEYS[1], 'PX', idle) end
if not value then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[1])
redis.call('PEXPIRE', KEYS[2], idle)
return value
"""

_DROP_SESSION = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, *, fallback: MemoryStore | None = None) -> None:
        self.where = _safe_location(url)
        self._redis = redis.asyncio.Redis.from_url(
            _with_default_timeouts(url),
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
            decode_responses=False,
        )
        self._gcra = self._redis.register_script(_GCRA)
        self._save_session = self._redis.register_script(_SAVE_SESSION)
        self._load_session = self._redis.register_script(_LOAD_SESSION)
        self._drop_session = self._redis.register_script(_DROP_SESSION)
        # Approvals are never served from the fallback: a decision only one process knows is no decision.
        self.approvals = RedisApprovals(self._redis, self._guard)
        self._fallback = fallback or MemoryStore()
        self._down = False
        self._retry_at = 0.0
        self._trial_running = False
        #: Commands that failed (unreachable, timed out, refused), for callgate_store_errors_total.
        self.errors = 0
        self._pending: list[tuple[Sequence[Bucket], asyncio.Future[float]]] = []
        self._sender: asyncio.Task[None] | None = None

    @property
    def answering(self) -> bool:
        return not self._down

    async def take(self, buckets: Sequence[Bucket], *, local_fallback: bool = False) -> float:
        """Queue the decision for the next batch and wait for it.

        Redis's client costs far more per command than the script costs Redis, so decisions that
        arrive while a batch is on the wire go together in the next one: under load many calls share
        one round trip, and a lone call still makes exactly one.
        """
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending.append((buckets, waiter))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_batches())
        try:
            return await waiter
        except StoreUnavailable:
            if not local_fallback:
                raise
            return self._fallback.take_now(buckets)

    async def _send_batches(self) -> None:
        """Send queued decisions until none are left; every waiter gets its answer or StoreUnavailable."""
        batch: list[tuple[Sequence[Bucket], asyncio.Future[float]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                keys: list[str] = []
                args: list[int] = [len(batch)]
                for buckets, _ in batch:
                    args.append(len(buckets))
                    for bucket in buckets:
                        keys.append(_PREFIX + "rl:" + bucket.key)
                        args += (round(bucket.interval_s * 1e6), round(bucket.tolerance_s * 1e6))
                try:
                    waits = await self._guard(partial(self._gcra, keys=keys, args=args))
                except StoreUnavailable as refusal:
                    _refuse(batch, refusal.data)
                    continue
                for (_, waiter), wait_us in zip(batch, waits, strict=True):
                    if not waiter.done():  # a caller cancelled while waiting: its decision stands
                        waiter.set_result(int(wait_us) / 1e6)
        finally:
            # Cancelled (the store closing) or a fault: whoever is still waiting is refused, never left hanging.
            self._sender = None
            _refuse(batch + self._pending, {"retry_after_s": _RETRY_S})
            self._pending = []

    async def save_session(self, session: Session, idle_s: float, *, max_per_principal: int) -> None:
        value = dumps([session.subject, session.tenant, session.protocol_version])
        keys = _session_keys(session.id, session.subject, session.tenant)
        args: list[str | int | bytes] = [_hash(session.id), _ms(idle_s), value, max_per_principal, _SESSION_PREFIX]
        await self._guard(partial(self._save_session, keys=keys, args=args))

    async def load_session(self, session_id: str, idle_s: float, *, subject: str, tenant: str) -> Session | None:
        keys = _session_keys(session_id, subject, tenant)
        value = await self._guard(partial(self._load_session, keys=keys, args=[_hash(session_id), _ms(idle_s)]))
        if value is None:
            return None
        try:
            owner_subject, owner_tenant, version = loads(value)
        except (DecodeError, TypeError, ValueError):
            return None  # not a record callgate wrote: no session
        return Session(session_id, str(owner_subject), str(owner_tenant), str(version))

    async def drop_session(self, session: Session) -> bool:
        keys = _session_keys(session.id, session.subject, session.tenant)
        return bool(await self._guard(partial(self._drop_session, keys=keys, args=[_hash(session.id)])))

    async def ping(self) -> None:
        await self._guard(self._redis.ping)

    async def aclose(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self._redis.aclose()

    async def _guard(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run one command, refusing at once while Redis is down; one caller at a time probes for its return."""
        trial = False
        if self._down:
            now = time.monotonic()
            if self._trial_running or now < self._retry_at:
                raise StoreUnavailable(data={"retry_after_s": _RETRY_S})
            trial = self._trial_running = True
        try:
            result = await command()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            self.errors += 1
            self._mark_down(exc)
            raise StoreUnavailable(data={"retry_after_s": _RETRY_S}) from None
        except redis.exceptions.RedisError as exc:  # Redis answered, but refused (out of memory, read-only...)
            self.errors += 1
            log.error("Redis at %s refused a command: %s", self.where, type(exc).__name__)
            raise StoreUnavailable(data={"retry_after_s": _RETRY_S}) from None
        finally:
            if trial:
                self._trial_running = False
        if self._down:
            self._down = False
            log.warning("Redis at %s answers again", self.where)
        return result

    def _mark_down(self, exc: BaseException) -> None:
        if not self._down:
            log.error("Redis at %s is unreachable (%s); refusing what needs it", self.where, type(exc).__name__)
        self._down = True
        self._retry_at = time.monotonic() + _RETRY_S


def _refuse(waiters: list[tuple[Sequence[Bucket], asyncio.Future[float]]], data: dict[str, Any]) -> None:
    for _, waiter in waiters:
        if not waiter.done():
            waiter.set_exception(StoreUnavailable(data=data))


_SESSION_PREFIX = _PREFIX + "session:"


def _session_keys(session_id: str, subject: str, tenant: str) -> list[str]:
    """The session's key and its principal's index: hashes, so neither id nor principal is readable in Redis."""
    owner = hashlib.sha256(dumps([tenant, subject])).hexdigest()
    return [_SESSION_PREFIX + _hash(session_id), _PREFIX + "sessions-of:" + owner]


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _with_default_timeouts(url: str) -> str:
    """The URL with short socket timeouts unless it sets its own (redis-py reads them from the query)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_timeout", str(DEFAULT_TIMEOUT_S))
    query.setdefault("socket_connect_timeout", str(DEFAULT_TIMEOUT_S))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _safe_location(url: str) -> str:
    """Host, port and database of the URL, for logs: never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or parts.path}:{parts.port or 6379}{parts.path if parts.hostname else ''}"
