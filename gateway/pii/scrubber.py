"""Scrubbing a call's arguments and its result: what a direction's walk is given, and a result's text blocks.

The walk itself (what is scanned, the size budget, the tally) is :mod:`gateway.pii.walk`. A result's
text block that is the JSON of its ``structuredContent`` (what every callgate backend sends) is not
scanned twice: it is written again from the scrubbed structured content.

Pure, synchronous and CPU-bound: the scrub stage runs it inline for small payloads and in a thread
for large ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.jsoncodec import DecodeError, dumps, loads
from gateway.pii.actions import Replacer
from gateway.pii.rules import SKIP, Plan, SchemaNode
from gateway.pii.walk import TRUNCATED, Finder, OverBudget, Tally, Walk

__all__ = ["TRUNCATED", "Finder", "OverBudget", "Scrubber", "Tally", "rough_size"]

#: Content blocks other than text: their type, MIME type and binary data are not text to scan.
_BLOCK = SchemaNode(
    properties={
        "type": SKIP,
        "mimeType": SKIP,
        "data": SKIP,
        "resource": SchemaNode(properties={"uri": None, "mimeType": SKIP, "text": None, "blob": SKIP}),
    }
)


class Scrubber:
    """One configuration's scrubbing: the detector, the replacer and the size budget."""

    def __init__(self, finder: Finder, replacer: Replacer, *, max_text_chars: int, truncate: bool) -> None:
        self._finder = finder
        self._replacer = replacer
        self._max_text_chars = max_text_chars
        self._truncate = truncate

    def arguments(self, arguments: dict[str, Any], plan: Plan, tenant: str) -> tuple[dict[str, Any], Tally]:
        """``arguments`` scrubbed under ``plan``; raises :class:`OverBudget`."""
        walk = self._walk(plan, tenant, record=True)
        walk.prove_small_clean(arguments, plan.schema)
        scrubbed = walk.value(arguments, plan.schema, plan.entities)
        return (scrubbed if isinstance(scrubbed, dict) else arguments), walk.tally

    def result(
        self,
        content: list[dict[str, Any]],
        structured: dict[str, Any] | None,
        plan: Plan,
        tenant: str,
        seen: Mapping[str, frozenset[str]] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, Tally]:
        """A result's content blocks and structured content scrubbed under ``plan``; raises :class:`OverBudget`.

        ``seen``: the arguments walk's :attr:`Tally.clean` for this call, not scanned again for the same types.
        """
        walk = self._walk(plan, tenant, seen=seen)
        # The text blocks are usually the structured content again (not scanned twice): its parts are the ones.
        walk.prove_small_clean(structured if structured is not None else content, plan.schema if structured else None)
        entities = plan.entities
        new_structured = structured
        if structured is not None:
            new_structured = walk.value(structured, plan.schema, entities)
        new_content: list[dict[str, Any]] = []
        for block in content:
            text = block.get("text")
            if block.get("type") == "text" and type(text) is str:
                if structured is not None and _is_json_of(text, structured):
                    new_text = text if new_structured is structured else dumps(new_structured).decode()
                else:
                    new_text = walk.text(text, entities)
                new_content.append(block if new_text is text else {**block, "text": new_text})
            else:
                new_content.append(walk.value(block, _BLOCK, entities))
        return new_content, new_structured if isinstance(new_structured, dict) else structured, walk.tally

    def _walk(
        self, plan: Plan, tenant: str, *, seen: Mapping[str, frozenset[str]] | None = None, record: bool = False
    ) -> Walk:
        return Walk(
            self._finder,
            self._replacer,
            plan,
            tenant,
            max_text_chars=self._max_text_chars,
            truncate=self._truncate,
            seen=seen,
            record=record,
        )


def _is_json_of(text: str, value: dict[str, Any]) -> bool:
    if not text.startswith("{"):
        return False
    try:
        return bool(loads(text) == value)
    except DecodeError:
        return False


def rough_size(value: Any, limit: int) -> int:
    """Characters of the strings and keys in ``value``, counted until ``limit`` is passed (to pick inline or thread)."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is dict:
            for key, sub in item.items():
                total += len(key)
                stack.append(sub)
        elif kind is list:
            stack.extend(item)
    return total
