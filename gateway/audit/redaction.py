"""The redacted arguments a ``tools/call`` record carries when its tool spec says ``audit: {arguments: redacted}``.

Security teams want to see what a refund was for, or which customer a change
touched, without the trail becoming a store of personal data. So for a tool
that opts in, the record holds its arguments after three steps:

1. *Declared keys only.* At every level, an object keeps the keys its input
   schema's ``properties`` name; any other key is the caller's text (it could be
   an email address), so its entry is left out and counted under
   ``"<undeclared>"``. An object the schema does not describe keeps none.
2. *Personal data replaced,* by the configuration's own scrubber (gateway.pii),
   with the call's plan for its tool, roles and direction ``arguments``: where
   the rules mask or hash a type, the record shows what the backend got; where
   they redact, block or allow it, and for every other type the configuration
   names, the record shows ``<TYPE>``. So the record never holds a value the
   PII rules would have scrubbed, nor one they let through to a backend that
   needs it (an email address the CRM must receive). ``x-pii: none`` in the
   schema still means "never personal data here".
3. *Bounded:* strings over :data:`MAX_TEXT_CHARS` are cut, and arguments whose
   JSON is still over :data:`MAX_BYTES` are withheld (the record says why).

It works on the call as the agent sent it, so a call refused before the scrub
stage (by policy, say) has its redacted arguments too; the scrub stage's own
work is left alone. The cost, one more scan of the arguments, is paid only by
tools that opt in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gateway.audit.record import UNDECLARED_KEY
from gateway.config.model import PiiAction, ToolSpec
from gateway.errors import PiiOverBudget
from gateway.jsoncodec import dumps
from gateway.pii.build import PiiRuntime
from gateway.pii.rules import Plan
from gateway.pii.scrubber import TRUNCATED, OverBudget, rough_size

#: Longer strings are cut to this many characters (after scrubbing: a cut never reveals more).
MAX_TEXT_CHARS = 1000
#: Redacted arguments whose JSON is larger are withheld: a record stays small whatever the call sent.
MAX_BYTES = 16_384
#: Larger arguments are scrubbed in a worker thread, as the scrub stage does (gateway.stages.scrub).
INLINE_CHARS = 4096
#: Plans remembered at once (the PII rules cache theirs likewise).
_MAX_PLANS = 10_000
#: What the record says instead, when the arguments could not be redacted within bounds.
WITHHELD_OVER_BUDGET, WITHHELD_TOO_LARGE = PiiOverBudget.reason, "too_large"


class ArgumentRedactor:
    """One configuration's redaction: the tools that opt in, their input schemas, and the scrubber."""

    def __init__(self, tools: Mapping[str, ToolSpec], pii: PiiRuntime) -> None:
        self._schemas = {name: spec.input_schema for name, spec in tools.items() if spec.audit_arguments == "redacted"}
        self._pii = pii
        self._entities = pii.detector.entities
        self._plans: dict[int, tuple[Plan, Plan]] = {}

    def wants(self, tool: str) -> bool:
        return tool in self._schemas

    async def redact(
        self, tool: str, arguments: Mapping[str, Any], roles: tuple[str, ...], tenant: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The redacted arguments, or None and why they are withheld; None, None when ``tool`` does not opt in."""
        schema = self._schemas.get(tool)
        if schema is None:
            return None, None
        declared = declared_only(dict(arguments), schema)
        if rough_size(declared, INLINE_CHARS) <= INLINE_CHARS:
            return self._redact(tool, declared, roles, tenant)
        return await asyncio.to_thread(self._redact, tool, declared, roles, tenant)

    def _redact(
        self, tool: str, declared: dict[str, Any], roles: tuple[str, ...], tenant: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        plan = self._plan_for(self._pii.rules.plan(tool, roles, "arguments"))
        try:
            scrubbed, _ = self._pii.scrubber.arguments(declared, plan, tenant)
        except OverBudget:
            return None, WITHHELD_OVER_BUDGET
        bounded = _cut(scrubbed)
        if len(dumps(bounded)) > MAX_BYTES:
            return None, WITHHELD_TOO_LARGE
        return bounded, None

    def _plan_for(self, plan: Plan) -> Plan:
        """``plan`` for the trail: its mask and hash kept, every other type the configuration names redacted."""
        cached = self._plans.get(id(plan))
        if cached is not None and cached[0] is plan:
            return cached[1]
        actions: dict[str, PiiAction] = dict.fromkeys(self._entities, "redact")
        actions.update({entity: action for entity, action in plan.actions.items() if action in ("mask", "hash")})
        audit_plan = Plan(actions=actions, entities=frozenset(actions), schema=plan.schema)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[id(plan)] = (plan, audit_plan)  # the plan is held, so its id is not reused meanwhile
        return audit_plan


def declared_only(value: Any, schema: Any) -> Any:
    """``value`` with only the object keys ``schema`` declares (``properties``), the others counted."""
    if type(value) is dict:
        properties = schema.get("properties") if isinstance(schema, dict) else None
        declared = properties if isinstance(properties, dict) else {}
        out: dict[str, Any] = {}
        hidden = 0
        for key, item in value.items():
            if key in declared and key != UNDECLARED_KEY:
                out[key] = declared_only(item, declared[key])
            else:
                hidden += 1
        if hidden:
            out[UNDECLARED_KEY] = hidden
        return out
    if type(value) is list:
        items = schema.get("items") if isinstance(schema, dict) else None
        return [declared_only(item, items) for item in value]
    return value


def _cut(value: Any) -> Any:
    if type(value) is str:
        return value[:MAX_TEXT_CHARS] + TRUNCATED if len(value) > MAX_TEXT_CHARS else value
    if type(value) is dict:
        return {key: _cut(item) for key, item in value.items()}
    if type(value) is list:
        return [_cut(item) for item in value]
    return value


__all__ = ["MAX_BYTES", "MAX_TEXT_CHARS", "ArgumentRedactor", "declared_only"]
