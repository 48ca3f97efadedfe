"""Everything built from one configuration, and the one list that orders the pipeline.

A :class:`Runtime` is immutable; a new configuration builds a new one, which
is then swapped in whole, so no call ever sees half of a configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gateway.approvals.desk import ApprovalDesk
from gateway.approvals.notify import Notifier
from gateway.audit import AuditWriter
from gateway.audit.redaction import ArgumentRedactor
from gateway.auth import Authenticator, build_authenticator
from gateway.backends import UpstreamClient
from gateway.config import Config
from gateway.metrics import BackendState, Metrics
from gateway.observe import observed
from gateway.pii.build import build_pii
from gateway.pipeline import Handler, Stage
from gateway.policy import PolicyEngine
from gateway.stages import (
    Approval,
    Audit,
    Authorize,
    Breaker,
    Budget,
    CheckOutput,
    Concurrency,
    Deadline,
    RateLimit,
    Resolve,
    Retry,
    Scrub,
    Validate,
    invoke,
)
from gateway.stages.per_backend import backend_key
from gateway.store import Store
from gateway.tools import ToolRegistry
from gateway.tracing import Tracing


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    tools: ToolRegistry
    policy: PolicyEngine
    authenticator: Authenticator
    call_tool: Handler
    #: Per-backend state a reload hands on to the next runtime (circuits, concurrency slots).
    breaker: Breaker
    concurrency: Concurrency
    #: Every principal's request budget: the pipeline spends it for tools/call, the dispatcher for the rest.
    budget: Budget
    #: Human approvals: the approval stage parks and claims through it, /admin/approvals decides through it.
    approvals: ApprovalDesk

    def backend_states(self) -> Iterator[BackendState]:
        """Every backend with its circuit's state and its limiter's counts (for a scrape)."""
        seen: set[str] = set()
        for name, spec in self.config.tools.items():
            key = backend_key(spec)
            if key in seen:
                continue
            seen.add(key)
            circuit, limiter = self.breaker.circuit(name), self.concurrency.limiter(name)
            yield BackendState(
                backend=key,
                circuit=circuit.state if circuit is not None else "closed",
                in_flight=limiter.in_flight if limiter is not None else 0,
                queued=limiter.waiting if limiter is not None else 0,
            )


def build_runtime(
    config: Config,
    http_client: UpstreamClient,
    audit: AuditWriter,
    store: Store,
    metrics: Metrics | None = None,
    previous: Runtime | None = None,
    tracing: Tracing | None = None,
) -> Runtime:
    """Compile ``config`` completely; raises ConfigError without side effects if any part is bad.

    With ``previous`` (a reload), backends whose settings did not change keep their circuit and slots.
    """
    tools = ToolRegistry(config, http_client)
    policy = PolicyEngine(config)
    breaker = Breaker(config, previous.breaker if previous is not None else None)
    concurrency = Concurrency(config, previous.concurrency if previous is not None else None)
    budget = Budget(config, store)
    pii = build_pii(config)  # one detector for the scrub stage and the audit records' redacted arguments
    approvals = ApprovalDesk(config, policy, store.approvals, audit, pii, _notifier(config, http_client))
    stages: list[Stage] = [
        # Outermost: sees every outcome. Metrics know this config's tools, so callers cannot mint labels.
        Audit(
            audit,
            config.version,
            metrics.for_tools(config.tools) if metrics is not None else None,
            # Records name only declared argument keys: an undeclared key is the caller's text, maybe personal data.
            {name: frozenset(spec.input_schema.get("properties", {})) for name, spec in config.tools.items()},
            ArgumentRedactor(config.tools, pii),  # for tool specs with audit: {arguments: redacted}
        ),
        # Right inside audit, before anything is decided: every call spends, known tool or not, allowed or
        # not, so a loop of refused calls is throttled like any other, and each refusal still has its record.
        budget,
        Resolve(tools),
        Authorize(policy),  # before validation: no schema hints for callers who may not call
        Validate(),  # refusals above never reach the breaker: a caller's mistake says nothing of the backend
        RateLimit(config, store),  # after validation, so malformed calls spend no allowance; before any backend work
        # After every automatic refusal, so a human is asked only about calls that could run; a parked call
        # (and each poll for its decision) spends its rate-limit allowance like any call.
        Approval(approvals),
        # After every refusal that needs no scanning, approval included (a human approves the call as the
        # agent sent it), so a refused or parked call costs no analysis. Outside the breaker: a result
        # blocked for personal data is callgate's decision, never counted as the backend failing.
        Scrub(pii, config.gateway.pii.max_text_chars, metrics),
        # Outside check_output, so a backend whose answers break the tool's output schema counts as failing.
        # Outside the deadline, queue and retries: an open circuit refuses before any waiting, and a call
        # counts once however many attempts it took.
        breaker,
        Deadline(config),  # one clock over everything below: the wait for a turn, every attempt and backoff
        concurrency,  # a slot is held across retries, so attempts never add load beyond max_in_flight
        Retry(config),  # each attempt is one backend exchange; the deadline above tells it when to stop
        CheckOutput(),  # wraps invoke: checks what the backend returned
    ]
    return Runtime(
        config=config,
        tools=tools,
        policy=policy,
        authenticator=build_authenticator(config.gateway),
        # The same stages, timed per stage (sampled) and traced when tracing is on (gateway.observe).
        call_tool=observed(stages, invoke, config, metrics, tracing),
        breaker=breaker,
        concurrency=concurrency,
        budget=budget,
        approvals=approvals,
    )


def _notifier(config: Config, http_client: UpstreamClient) -> Notifier | None:
    settings = config.gateway.approvals
    if settings.notify_url is None:
        return None
    return Notifier(settings.notify_url, settings.notify_timeout_s, http_client, config.gateway.server.resource_uri)


class RuntimeHolder:
    """The runtime in force; replacing it is one reference assignment."""

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime
