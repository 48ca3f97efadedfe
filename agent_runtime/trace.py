"""The trace of one run: every model turn and tool call, why the run stopped, readable or as JSON.

A model event has the turn's text, proposed calls, tokens in and out and its
latency; a tool event has the call, the gateway's decision and reason, the
waits the client made (rate limits, approval) and the latency. The run ends
with exactly one stop reason:

========================  ====================================================
``answer``                the model gave a final answer
``max_steps``             the step budget (model turns) is spent
``max_tokens``            the token budget (in + out) is spent
``deadline``              the wall-clock deadline passed
``model_error``           the model failed (unreachable, refused, garbage)
``gateway_error``         the gateway could not be reached or refused tools/list
``conflict``              another run saved this conversation meanwhile
``store_error``           the conversation store could not be read or written
========================  ====================================================
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StopReason = Literal[
    "answer", "max_steps", "max_tokens", "deadline", "model_error", "gateway_error", "conflict", "store_error"
]
Decision = Literal["allowed", "refused", "not_run"]


def decision_of(outcome: str) -> Decision:
    """allowed: the tool ran (maybe answering with an error); refused: by the gateway; not_run: never sent."""
    if outcome in ("ok", "tool_error"):
        return "allowed"
    return "not_run" if outcome == "not_run" else "refused"


@dataclass(frozen=True, slots=True)
class ModelEvent:
    step: int
    content: str | None
    tool_calls: list[dict[str, Any]]
    tokens_in: int
    tokens_out: int
    tokens_estimated: bool
    latency_ms: float
    kind: Literal["model"] = "model"


@dataclass(frozen=True, slots=True)
class ToolEvent:
    step: int
    call_id: str
    tool: str
    arguments: dict[str, Any]
    decision: Decision
    outcome: str
    reason: str | None
    code: int | None
    latency_ms: float
    waits: list[dict[str, Any]] = field(default_factory=list)
    kind: Literal["tool"] = "tool"


@dataclass
class Trace:
    conversation_id: str
    model: str
    events: list[ModelEvent | ToolEvent] = field(default_factory=list)
    stop_reason: StopReason | None = None
    stop_detail: str = ""
    answer: str | None = None
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    elapsed_s: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def stop(self, reason: StopReason, detail: str = "", answer: str | None = None) -> Trace:
        self.stop_reason, self.stop_detail, self.answer = reason, detail, answer
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "model": self.model,
            "stop_reason": self.stop_reason,
            "stop_detail": self.stop_detail,
            "answer": self.answer,
            "steps": self.steps,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "elapsed_s": round(self.elapsed_s, 3),
            "events": [asdict(event) for event in self.events],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def render(self) -> str:
        lines = [f"conversation {self.conversation_id}  model {self.model}"]
        for event in self.events:
            lines.extend(_model_lines(event) if isinstance(event, ModelEvent) else _tool_lines(event))
        lines.append(
            f"stop     {self.stop_reason}{': ' + self.stop_detail if self.stop_detail else ''}"
            f"  ({self.steps} steps, {self.tokens} tokens: {self.tokens_in} in, {self.tokens_out} out,"
            f" {self.elapsed_s:.2f} s)"
        )
        if self.answer is not None:
            lines.append(f"answer   {self.answer}")
        return "\n".join(lines)


def _model_lines(event: ModelEvent) -> list[str]:
    estimated = " (estimated)" if event.tokens_estimated else ""
    tokens = f"{event.tokens_in} in / {event.tokens_out} out{estimated}"
    lines = [f"step {event.step:<3} model  {tokens}  {event.latency_ms:.1f} ms"]
    if event.content:
        lines.append(f"         says   {_one_line(event.content)}")
    for call in event.tool_calls:
        lines.append(f"         calls  {call['name']} {json.dumps(call['arguments'], ensure_ascii=False)}")
    return lines


def _tool_lines(event: ToolEvent) -> list[str]:
    status = event.decision if event.outcome in ("ok", "refused", "not_run") else f"{event.decision} ({event.outcome})"
    reason = f" {event.reason}" if event.reason else ""
    code = f" {event.code}" if event.code is not None else ""
    lines = [f"         tool   {event.tool}: {status}{reason}{code}  {event.latency_ms:.1f} ms"]
    for wait in event.waits:
        approval = f" approval {wait['approval_id']}" if wait.get("approval_id") else ""
        lines.append(f"         waited {wait['waited_s']:.1f} s for {wait['reason']} ({wait['attempts']}x){approval}")
    return lines


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
