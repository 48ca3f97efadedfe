"""The conversation: messages between the task, the model and the tools, in a form that survives JSON.

Tool names here are the gateway's own (``crm.get_customer``); a model adapter
that needs other names maps them on the way out and back. Everything
round-trips through :meth:`Message.to_dict` / :meth:`Message.from_dict`, which
is how a conversation is stored and continued in another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent_runtime.observations import Observation

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """A tool call the model proposed."""

    id: str
    name: str
    arguments: dict[str, Any]
    #: Why the arguments could not be read (a model that wrote invalid JSON); such a call is not sent.
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": self.arguments}
        if self.problem is not None:
            data["problem"] = self.problem
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCallRequest:
        return cls(id=data["id"], name=data["name"], arguments=data["arguments"], problem=data.get("problem"))


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str | None = None
    #: An assistant message's proposed calls.
    tool_calls: tuple[ToolCallRequest, ...] = ()
    #: A tool message answers the call with this id, and carries what it came to.
    tool_call_id: str | None = None
    observation: Observation | None = None
    #: The model's own notes kept with the conversation (the scripted model's position in its script).
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        if self.observation is not None:
            data["observation"] = self.observation.to_dict()
        if self.meta:
            data["meta"] = self.meta
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        observation = data.get("observation")
        return cls(
            role=data["role"],
            content=data.get("content"),
            tool_calls=tuple(ToolCallRequest.from_dict(call) for call in data.get("tool_calls", ())),
            tool_call_id=data.get("tool_call_id"),
            observation=Observation.from_dict(observation) if observation is not None else None,
            meta=dict(data.get("meta", {})),
        )


def tool_message(call: ToolCallRequest, observation: Observation) -> Message:
    return Message(role="tool", content=observation.text, tool_call_id=call.id, observation=observation)


def last_observations(messages: list[Message] | tuple[Message, ...]) -> list[Observation]:
    """The observations that answer the last assistant turn, in call order."""
    found: list[Observation] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        if message.observation is not None:
            found.append(message.observation)
    return found[::-1]
