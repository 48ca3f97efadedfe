"""Conversation state: kept in a store, so a conversation started in one process continues in another.

:class:`ConversationStore` is the interface: in memory (one process) or in
Redis (keys ``callgate:conversation:<id>``, expiring ``ttl_s`` after the last
save). Each save bumps the conversation's ``version``; a save from a copy that
is no longer the latest is refused with :class:`ConversationConflict`, so two
runs of one conversation at once cannot silently drop each other's turns.

The runtime keeps this interface of its own rather than the gateway's
(gateway/store/): it runs beside the gateway, never inside it, and may talk to
another Redis.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agent_runtime.messages import Message

KEY_PREFIX = "callgate:conversation:"
#: A day after the last save: long enough to continue a task or wait out an approval, short for stored results.
DEFAULT_TTL_S = 24 * 3600

#: What a conversation id may look like: it travels to the gateway and onto its audit records.
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Compare-and-set in one atomic step: write only if the stored version is the one this copy was loaded at.
_SAVE = """
local stored = redis.call('HGET', KEYS[1], 'version')
if (stored or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'body', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class ConversationConflict(Exception):
    """The conversation was saved by someone else since this copy was loaded."""


class ConversationStoreUnavailable(Exception):
    """The store could not be read or written (Redis unreachable); the run stops rather than forget turns."""


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    messages: tuple[Message, ...] = ()
    #: How many times it has been saved; 0 for one never saved.
    version: int = 0

    def with_messages(self, *messages: Message) -> Conversation:
        return replace(self, messages=self.messages + messages)

    def body(self) -> str:
        return json.dumps({"id": self.id, "messages": [m.to_dict() for m in self.messages]}, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str | bytes, version: int) -> Conversation:
        data: dict[str, Any] = json.loads(body)
        return cls(data["id"], tuple(Message.from_dict(m) for m in data["messages"]), version)


def new_conversation_id() -> str:
    return f"conv-{uuid.uuid4().hex}"


def check_conversation_id(value: str) -> str:
    """``value`` when it is a usable id; ValueError otherwise."""
    if not _ID.match(value):
        raise ValueError("a conversation id is 1-128 letters, digits or . _ : -")
    return value


class ConversationStore(Protocol):
    async def load(self, conversation_id: str) -> Conversation | None:
        """The latest saved copy, or None."""
        ...

    async def save(self, conversation: Conversation) -> Conversation:
        """Store ``conversation``; returns it with its new version. Raises ConversationConflict."""
        ...

    async def aclose(self) -> None: ...


class MemoryConversationStore:
    """Conversations of this process; JSON copies, so a caller cannot change what is stored."""

    def __init__(self) -> None:
        self._stored: dict[str, tuple[int, str]] = {}

    async def load(self, conversation_id: str) -> Conversation | None:
        stored = self._stored.get(conversation_id)
        return Conversation.from_body(stored[1], stored[0]) if stored is not None else None

    async def save(self, conversation: Conversation) -> Conversation:
        version = self._stored.get(conversation.id, (0, ""))[0]
        if version != conversation.version:
            raise ConversationConflict(conversation.id)
        self._stored[conversation.id] = (version + 1, conversation.body())
        return replace(conversation, version=version + 1)

    async def aclose(self) -> None:
        return None


class RedisConversationStore:
    def __init__(self, client: aioredis.Redis, *, ttl_s: int = DEFAULT_TTL_S, owns_client: bool = False) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._owns_client = owns_client
        self._save = client.register_script(_SAVE)

    @classmethod
    def from_url(cls, url: str, *, ttl_s: int = DEFAULT_TTL_S) -> RedisConversationStore:
        return cls(aioredis.Redis.from_url(url), ttl_s=ttl_s, owns_client=True)

    async def load(self, conversation_id: str) -> Conversation | None:
        try:
            version, body = await self._client.hmget(KEY_PREFIX + conversation_id, ["version", "body"])
        except RedisError as exc:
            raise ConversationStoreUnavailable(type(exc).__name__) from None
        if body is None:
            return None
        return Conversation.from_body(body, int(version or 0))

    async def save(self, conversation: Conversation) -> Conversation:
        arguments: list[str | int] = [conversation.version, conversation.version + 1, conversation.body(), self._ttl_s]
        try:
            saved = await self._save(keys=[KEY_PREFIX + conversation.id], args=arguments)
        except RedisError as exc:
            raise ConversationStoreUnavailable(type(exc).__name__) from None
        if not saved:
            raise ConversationConflict(conversation.id)
        return replace(conversation, version=conversation.version + 1)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
