"""What the model is told a tool call came to: one :class:`Observation` per call.

The gateway's answer is turned into text a model can act on: the result; a
tool error; the schema violations with their paths, so it can correct the
arguments; or a refusal with its stable reason and what to do about it (a
policy refusal will not change if the call is repeated; a rate limit will). The
structured fields (outcome, reason, paths) are kept beside the text, so a
scripted model can branch on them and a conversation reloaded in another
process still has them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from agent_runtime.client import CallOutcome

#: ``ok``: a result; ``tool_error``: the tool answered with an error (``isError``); ``schema_error``: the
#: arguments violate the tool's schema; ``refused``: the gateway refused the call; ``not_run``: the runtime
#: did not send it (unreadable arguments, or the run was interrupted before its outcome was known).
Outcome = Literal["ok", "tool_error", "schema_error", "refused", "not_run"]

#: How the gateway's MCP endpoint words a schema violation (gateway/dispatcher.py): a tool result with isError.
_SCHEMA_ERROR_PREFIX = "Invalid arguments:"

_HINTS = {
    "policy.denied": "The policy does not allow this call; repeating it unchanged will be refused again.",
    "approval.denied": "A human approver denied this call; do not repeat it.",
    "approval.expired": "Nobody approved this call in time; it did not run.",
    "approval.mismatch": "The approval does not match this call; it did not run.",
    "approval.pending": "The call is still waiting for a human's approval; it has not run.",
    "ratelimit.exceeded": "Rate limited; wait before calling this tool again, or do something else first.",
    "backend.unavailable": "The tool's backend is unavailable right now; it may recover later.",
    "store.unavailable": "The gateway cannot reach its state store right now; try later.",
    "protocol.invalid_params": "The gateway does not know this tool, or the call was malformed.",
    "pii.blocked": "Personal data of a blocked type was found in the call or its result.",
    "auth.unauthenticated": "The agent's credential was not accepted.",
}


@dataclass(frozen=True, slots=True)
class Observation:
    tool: str
    outcome: Outcome
    #: What the model reads.
    text: str
    reason: str | None = None
    code: int | None = None
    #: Schema violations: the failing paths ($.start, $.amount ...).
    paths: tuple[str, ...] = ()
    #: The result's structuredContent, when the tool gave one.
    result: dict[str, Any] | None = None
    approval_id: str | None = None
    #: Seconds the gateway client waited (rate limits, busy backends, approval).
    waited_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "paths": list(self.paths)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Observation:
        return cls(**{**data, "paths": tuple(data.get("paths", ()))})


def observe(tool: str, outcome: CallOutcome) -> Observation:
    """The observation for what the gateway answered to a call of ``tool``."""
    approval_id = outcome.approval_id or next((w.approval_id for w in outcome.waits if w.approval_id), None)
    base = Observation(tool, "ok", "", approval_id=approval_id, waited_s=round(outcome.waited_s, 3))
    if outcome.ok:
        text = outcome.text
        structured = outcome.result.get("structuredContent") if outcome.result is not None else None
        result = structured if isinstance(structured, dict) else None
        if not outcome.is_tool_error:
            return replace(base, text=text, result=result)
        if text.startswith(_SCHEMA_ERROR_PREFIX):
            paths = tuple(line.split(":", 1)[0].strip() for line in text.splitlines()[1:] if ":" in line)
            text += "\nCorrect the arguments and call the tool again."
            return replace(base, outcome="schema_error", text=text, reason="schema.invalid", paths=paths)
        return replace(base, outcome="tool_error", text=f"The tool answered with an error: {text}")
    reason = outcome.reason or "unknown"
    text = f"Refused by the gateway: {reason} (code {outcome.error_code}): {outcome.message or 'no message'}."
    if outcome.retry_after_s is not None:
        text += f" Retry after {outcome.retry_after_s:g} s."
    entities = outcome.data.get("entities")
    if isinstance(entities, list) and entities:
        text += " Types found: " + ", ".join(str(entity) for entity in entities) + "."
    hint = _HINTS.get(reason)
    if hint is not None:
        text += " " + hint
    return replace(base, outcome="refused", text=text, reason=reason, code=outcome.error_code)


def not_run(tool: str, why: str) -> Observation:
    """The observation for a call the runtime did not send."""
    return Observation(tool=tool, outcome="not_run", text=f"The call was not made: {why}", reason="not_run")
