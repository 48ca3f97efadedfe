"""Approval requests in Redis, shared by every gateway process: each change is one atomic Lua script.

Layout (``callgate:`` prefix):

- ``approval:<id>``: a hash. ``fixed`` (the JSON that never changes), ``args`` (the arguments, deleted by
  the decision), ``state``, ``decision`` (JSON), ``executed`` (ms), ``expires`` (ms) and ``digest``. It
  expires ``keep_s`` after the request does.
- ``approval-digest:<digest>``: the id of the pending request with that digest, until it expires or is
  decided (a repeat without the id finds it).
- ``approvals-pending:<owner>``: the principal's pending ids scored by expiry (what the cap counts).
- ``approvals-of:<tenant>``: the tenant's ids scored by expiry, for listing, pruned past ``keep_s``.
- ``approvals-pending``: every pending id scored by expiry, whoever asked: what the
  ``callgate_approvals_pending`` gauge counts.

Owners and tenants are hashed, so no principal is readable from the key names. The scripts only compare
and set scalar fields: the JSON is written and read by Python, never re-encoded by Lua. Times come from
the caller (its wall clock, in ms), as ``expires_at`` does. Claiming is the single-use guarantee: the
script that turns ``approved`` into ``executed`` runs once per request, whichever process sends it, so
of any number of concurrent claims exactly one is told ``claimed``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import redis.asyncio

from gateway.approvals.record import ApprovalDecision, ApprovalRequest, ClaimOutcome, TooManyPending
from gateway.jsoncodec import DecodeError, dumps, loads

T = TypeVar("T")
Guard = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
#: What a script's ARGV may hold.
Arg = bytes | str | int | float

_PREFIX = "callgate:"
_RECORD = _PREFIX + "approval:"
_ALL_PENDING = _PREFIX + "approvals-pending"
#: Requests one listing returns at most (the newest).
MAX_LISTED = 500

# KEYS: the new record, the digest index, the principal's pending set, the tenant's set, every pending id.
# ARGV: id, fixed JSON, arguments JSON, digest, now (ms), expires (ms), keep (ms), cap, record prefix.
_CREATE = """
local now, expires, keep = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local existing = redis.call('GET', KEYS[2])
if existing then
  local key = ARGV[9] .. existing
  if redis.call('HGET', key, 'state') == 'pending' and tonumber(redis.call('HGET', key, 'expires') or '0') > now then
    return {'existing', redis.call('HGETALL', key)}
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[8]) then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {'full', oldest[2]}
end
redis.call('HSET', KEYS[1], 'fixed', ARGV[2], 'args', ARGV[3], 'state', 'pending', 'expires', ARGV[6],
  'digest', ARGV[4])
redis.call('PEXPIRE', KEYS[1], expires - now + keep)
redis.call('SET', KEYS[2], ARGV[1], 'PX', expires - now)
redis.call('ZADD', KEYS[3], expires, ARGV[1])
redis.call('PEXPIRE', KEYS[3], expires - now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - keep)
redis.call('ZADD', KEYS[4], expires, ARGV[1])
if redis.call('PTTL', KEYS[4]) < expires - now + keep then redis.call('PEXPIRE', KEYS[4], expires - now + keep) end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
redis.call('ZADD', KEYS[5], expires, ARGV[1])
return {'created'}
"""

# KEYS: the record, the principal's pending set, the digest index, every pending id.
# ARGV: id, state, decision JSON, now (ms).
_DECIDE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' or tonumber(redis.call('HGET', KEYS[1], 'expires')) <= tonumber(ARGV[4]) then
  return false
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'decision', ARGV[3])
redis.call('HDEL', KEYS[1], 'args')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: the record. ARGV: digest, now (ms).
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'unknown' end
if redis.call('HGET', KEYS[1], 'digest') ~= ARGV[1] then return 'mismatch' end
local live = tonumber(redis.call('HGET', KEYS[1], 'expires')) > tonumber(ARGV[2])
if (state == 'pending' or state == 'approved') and not live then return 'expired' end
if state ~= 'approved' then return state end
redis.call('HSET', KEYS[1], 'state', 'executed', 'executed', ARGV[2])
return 'claimed'
"""

# KEYS: the tenant's set. ARGV: record prefix, most to return. Ids whose record is gone (forgotten) are
# skipped here and pruned from the set by the next create.
_LIST = """
local found = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields > 0 then found[#found + 1] = fields end
end
return found
"""


class RedisApprovals:
    def __init__(self, client: redis.asyncio.Redis, guard: Guard) -> None:
        self._guard = guard
        self._create = client.register_script(_CREATE)
        self._decide = client.register_script(_DECIDE)
        self._claim = client.register_script(_CLAIM)
        self._list = client.register_script(_LIST)
        self._hgetall = client.hgetall
        self._zcount = client.zcount

    async def create(self, request: ApprovalRequest, *, now: float, keep_s: float, max_pending: int) -> ApprovalRequest:
        keys = [
            _RECORD + request.id,
            _digest_key(request.digest),
            _pending_key(request),
            _tenant_key(request.tenant),
            _ALL_PENDING,
        ]
        args: list[Arg] = [
            request.id,
            dumps(request.fixed_json()),
            dumps(request.arguments or {}),
            request.digest,
            _ms(now),
            _ms(request.expires_at),
            _ms(keep_s),
            max_pending,
            _RECORD,
        ]
        answer = await self._guard(partial(self._create, keys=keys, args=args))
        kind = _text(answer[0])
        if kind == "full":
            raise TooManyPending(max(0.0, int(answer[1]) / 1000 - now))
        if kind == "existing":
            found = _from_fields(answer[1])
            if found is not None:
                return found
        return request

    async def get(self, approval_id: str) -> ApprovalRequest | None:
        return _from_fields(await self._guard(partial(self._hgetall, _RECORD + approval_id)))

    async def pending_count(self, *, now: float) -> int:
        return int(await self._guard(partial(self._zcount, _ALL_PENDING, f"({_ms(now)}", "+inf")))

    async def for_tenant(self, tenant: str, *, now: float) -> list[ApprovalRequest]:
        args: list[Arg] = [_RECORD, MAX_LISTED]
        answer = await self._guard(partial(self._list, keys=[_tenant_key(tenant)], args=args))
        found = [request for fields in answer if (request := _from_fields(fields)) is not None]
        return sorted(found, key=lambda request: request.created_at, reverse=True)

    async def decide(
        self, request: ApprovalRequest, decision: ApprovalDecision, *, now: float
    ) -> ApprovalRequest | None:
        keys = [_RECORD + request.id, _pending_key(request), _digest_key(request.digest), _ALL_PENDING]
        state = "approved" if decision.approved else "denied"
        args: list[Arg] = [request.id, state, dumps(decision.to_json()), _ms(now)]
        answer = await self._guard(partial(self._decide, keys=keys, args=args))
        return None if answer is None else _from_fields(answer)

    async def claim(self, approval_id: str, digest: str, *, now: float) -> ClaimOutcome:
        answer = await self._guard(partial(self._claim, keys=[_RECORD + approval_id], args=[digest, _ms(now)]))
        outcome = _text(answer)
        if outcome not in ("claimed", "unknown", "mismatch", "pending", "denied", "executed", "expired"):
            return "unknown"
        return outcome  # type: ignore[return-value]  # checked just above


def _from_fields(raw: Any) -> ApprovalRequest | None:
    """A request from HGETALL's answer (a dict, or a flat list from a script); None when it is not callgate's."""
    if not raw:
        return None
    if isinstance(raw, dict):
        fields = {_text(key): value for key, value in raw.items()}
    else:
        fields = {_text(raw[i]): raw[i + 1] for i in range(0, len(raw) - 1, 2)}
    try:
        decision = fields.get("decision")
        executed = fields.get("executed")
        arguments = fields.get("args")
        return ApprovalRequest.from_parts(
            loads(fields["fixed"]),
            state=_text(fields["state"]),
            decision=None if decision is None else loads(decision),
            executed_at=None if executed is None else int(executed) / 1000,
            arguments=None if arguments is None else loads(arguments),
        )
    except (KeyError, TypeError, ValueError, DecodeError):
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _digest_key(digest: str) -> str:
    return _PREFIX + "approval-digest:" + digest.removeprefix("sha256:")


def _pending_key(request: ApprovalRequest) -> str:
    owner = hashlib.sha256(dumps([request.tenant, request.subject])).hexdigest()
    return _PREFIX + "approvals-pending:" + owner


def _tenant_key(tenant: str) -> str:
    return _PREFIX + "approvals-of:" + hashlib.sha256(tenant.encode()).hexdigest()


def _ms(seconds: float) -> int:
    return math.ceil(seconds * 1000)
