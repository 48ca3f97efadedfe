"""The minimal agent runtime: it acts only through the callgate gateway."""

from agent_runtime.client import CallOutcome, GatewayClient, GatewayError, Wait, WaitPolicy
from agent_runtime.loop import Agent, Budget
from agent_runtime.memory import (
    Conversation,
    ConversationConflict,
    ConversationStore,
    MemoryConversationStore,
    RedisConversationStore,
)
from agent_runtime.trace import Trace

__all__ = [
    "Agent",
    "Budget",
    "CallOutcome",
    "Conversation",
    "ConversationConflict",
    "ConversationStore",
    "GatewayClient",
    "GatewayError",
    "MemoryConversationStore",
    "RedisConversationStore",
    "Trace",
    "Wait",
    "WaitPolicy",
]
