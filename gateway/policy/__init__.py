"""Authorization: Casbin with tenants, roles per request, conditions on arguments, decisions cached.

``PolicyEngine`` is what the gateway asks; ``explain`` says why it answered as it
did; ``check`` and ``cases`` are what ``callgate policy check`` and ``callgate policy
test`` run.
"""

from gateway.policy.engine import PolicyEngine, Ruling
from gateway.policy.explain import Decision
from gateway.policy.rules import PolicyLine

__all__ = ["Decision", "PolicyEngine", "PolicyLine", "Ruling"]
