"""The one interface every model sits behind, and what a model turn gives back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_runtime.messages import Message, ToolCallRequest


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as ``tools/list`` describes it, named as the gateway names it."""

    name: str
    description: str
    input_schema: dict[str, Any]

    @classmethod
    def from_listing(cls, listing: dict[str, Any]) -> ToolSpec:
        schema = listing.get("inputSchema")
        return cls(
            name=str(listing["name"]),
            description=str(listing.get("description") or listing.get("title") or ""),
            input_schema=schema if isinstance(schema, dict) else {"type": "object"},
        )


@dataclass(frozen=True, slots=True)
class ModelTurn:
    """One answer of the model: text, proposed tool calls (none means a final answer), tokens spent."""

    content: str | None
    tool_calls: tuple[ToolCallRequest, ...] = ()
    tokens_in: int = 0
    tokens_out: int = 0
    #: The token counts are the adapter's estimate (the server reported no usage).
    tokens_estimated: bool = False
    #: Notes the model keeps with its message in the conversation (see Message.meta).
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return not self.tool_calls

    def as_message(self) -> Message:
        return Message(role="assistant", content=self.content, tool_calls=self.tool_calls, meta=self.meta)


class ModelError(Exception):
    """The model could not give a usable turn: unreachable, refused the request, or answered garbage."""


class Model(Protocol):
    #: A label for traces: ``scripted:support-lookup``, ``openai:llama3.1``.
    name: str

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        """The next turn for ``messages``, with ``tools`` offered; raises :class:`ModelError`."""
        ...

    async def aclose(self) -> None: ...


def words(content: str | None, calls: Sequence[ToolCallRequest] = ()) -> int:
    """Whitespace-separated words in a text and its calls (name and JSON arguments): a deterministic token count."""
    count = len(content.split()) if content else 0
    for call in calls:
        count += 1 + len(json.dumps(call.arguments, sort_keys=True).split())
    return count


def prompt_words(messages: Sequence[Message]) -> int:
    """:func:`words` over every message of a prompt (the tool list is not counted)."""
    return sum(words(message.content, message.tool_calls) for message in messages)
