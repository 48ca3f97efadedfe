"""State that outlives a call: rate-limit buckets, MCP sessions and approval requests, in memory or in Redis."""

from __future__ import annotations

from gateway.store.base import ApprovalStore, Bucket, Session, Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore


def build_store(redis_url: str | None, *, max_sessions: int) -> Store:
    """Redis when a URL is given (shared by every process using it), else this process's memory."""
    if redis_url:
        return RedisStore(redis_url, fallback=MemoryStore(max_sessions=max_sessions))
    return MemoryStore(max_sessions=max_sessions)


__all__ = ["ApprovalStore", "Bucket", "MemoryStore", "RedisStore", "Session", "Store", "build_store"]
