"""The minimal agent runtime: it acts only through the callgate gateway."""

from agent_runtime.client import CallOutcome, GatewayClient

__all__ = ["CallOutcome", "GatewayClient"]
