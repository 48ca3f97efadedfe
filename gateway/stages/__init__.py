"""The ``tools/call`` stages, one per file; their order is declared in :mod:`gateway.runtime`."""

from gateway.stages.approval import Approval
from gateway.stages.audit import Audit
from gateway.stages.authorize import Authorize
from gateway.stages.breaker import Breaker
from gateway.stages.budget import Budget
from gateway.stages.check_output import CheckOutput
from gateway.stages.concurrency import Concurrency
from gateway.stages.deadline import Deadline
from gateway.stages.invoke import invoke
from gateway.stages.ratelimit import RateLimit
from gateway.stages.resolve import Resolve
from gateway.stages.retry import Retry
from gateway.stages.scrub import Scrub
from gateway.stages.validate import Validate

__all__ = [
    "Approval",
    "Audit",
    "Authorize",
    "Breaker",
    "Budget",
    "CheckOutput",
    "Concurrency",
    "Deadline",
    "RateLimit",
    "Resolve",
    "Retry",
    "Scrub",
    "Validate",
    "invoke",
]
