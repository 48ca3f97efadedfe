"""Everything built from one configuration, and the one list that orders the pipeline.

A :class:`Runtime` is immutable; a new configuration builds a new one, which
is then swapped in whole, so no call ever sees half of a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audit import AuditWriter
from gateway.auth import Authenticator, build_authenticator
from gateway.backends import UpstreamClient
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.pipeline import Handler, Stage, compose
from gateway.policy import PolicyEngine
from gateway.stages import Audit, Authorize, Breaker, CheckOutput, Resolve, Validate, invoke
from gateway.tools import ToolRegistry


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    tools: ToolRegistry
    policy: PolicyEngine
    authenticator: Authenticator
    call_tool: Handler


def build_runtime(
    config: Config, http_client: UpstreamClient, audit: AuditWriter, metrics: Metrics | None = None
) -> Runtime:
    """Compile ``config`` completely; raises ConfigError without side effects if any part is bad."""
    tools = ToolRegistry(config, http_client)
    policy = PolicyEngine(config)
    stages: list[Stage] = [
        # Outermost: sees every outcome. Metrics know this config's tools, so callers cannot mint labels.
        Audit(audit, config.version, metrics.for_tools(config.tools) if metrics is not None else None),
        Resolve(tools),
        Authorize(policy),  # before validation: no schema hints for callers who may not call
        Validate(),  # refusals above never reach the breaker: a caller's mistake says nothing of the backend
        # Outside check_output, so a backend whose answers break the tool's output schema counts as failing.
        Breaker(config),
        CheckOutput(),  # wraps invoke: checks what the backend returned
    ]
    return Runtime(
        config=config,
        tools=tools,
        policy=policy,
        authenticator=build_authenticator(config.gateway),
        call_tool=compose(stages, invoke),
    )


class RuntimeHolder:
    """The runtime in force; replacing it is one reference assignment."""

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime
