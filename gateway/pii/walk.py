"""One direction of one call: the walk over a value that hands each string, key and long number to the detector.

What is scanned: every string value; every object key a schema does not declare; integers of nine
digits or more (and floats holding such an integer), since a card number sent as a JSON number is
still a card number; and text that is itself JSON (an object or array), parsed and walked like the
rest, up to :data:`MAX_JSON_NESTING` levels, so escapes cannot hide a value.

Every character scanned counts against ``max_text_chars``. Over it, the walk stops (:class:`OverBudget`)
or, in truncate mode, cuts strings to what is left, drops entries whose key no longer fits, and scans
the rest: nothing passes unscanned. A :class:`Tally` holds what was found, by type and action, never a value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.config.model import PiiAction
from gateway.jsoncodec import DecodeError, dumps, loads
from gateway.pii.actions import Replacer
from gateway.pii.findings import Finding
from gateway.pii.rules import Plan, SchemaNode

#: Text inside text inside text: deeper than this, JSON text is scanned as plain text.
MAX_JSON_NESTING = 3
#: Integers with at least this many digits are scanned (nine: an SSN; card and account numbers are longer).
MIN_NUMBER_DIGITS = 9
_MIN_NUMBER = 10 ** (MIN_NUMBER_DIGITS - 1)
_MAX_FLOAT_INTEGER = 2.0**63
#: What a cut string ends with, so nobody mistakes it for the whole value.
TRUNCATED = "[truncated]"
#: Strings this long that the arguments walk handed on are not scanned again for the same types when the
#: result carries them back (a backend echoing a ticket, a created record): the detector's findings
#: depend on the text alone, and ``<TYPE>`` and ``<TYPE:hex>`` put in place of a value are inert. Strings
#: a mask touched are scanned again (a long kept tail could be digits of something). Shorter strings are
#: cheap to scan again.
MEMO_MIN_CHARS = 64


class Finder(Protocol):
    """What the scrubber needs of the detector (gateway.pii.detector.Detector)."""

    def find(self, text: str, entities: Collection[str] | None = None) -> list[Finding]: ...


class OverBudget(Exception):
    """A call's text in one direction exceeds ``max_text_chars`` and the configuration says refuse."""


@dataclass(slots=True)
class Tally:
    """What one direction of one call held: counts by (entity, action), blocked types, whether text was cut."""

    counts: dict[tuple[str, PiiAction], int] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    truncated: bool = False
    #: Strings the walk handed on (at least :data:`MEMO_MIN_CHARS` long), with the types they were scanned for.
    clean: dict[str, frozenset[str]] = field(default_factory=dict)


class Walk:
    """One direction of one call: the plan, the budget left and the tally."""

    __slots__ = (
        "_finder",
        "_json_depth",
        "_masked",
        "_plan",
        "_record",
        "_remaining",
        "_replacer",
        "_seen",
        "_small_clean",
        "_tenant",
        "_truncate",
        "tally",
    )

    def __init__(
        self,
        finder: Finder,
        replacer: Replacer,
        plan: Plan,
        tenant: str,
        *,
        max_text_chars: int,
        truncate: bool,
        seen: Mapping[str, frozenset[str]] | None = None,
        record: bool = False,
    ) -> None:
        self._finder = finder
        self._replacer = replacer
        self._truncate = truncate
        self._remaining = max_text_chars
        self._plan = plan
        self._tenant = tenant
        self._json_depth = 0
        self._seen = seen or {}
        self._record = record
        self._masked = False
        self._small_clean: frozenset[str] = frozenset()
        self.tally = Tally()

    def prove_small_clean(self, value: Any, node: SchemaNode | None) -> None:
        """One detector call over all of ``value``'s short strings, keys and long numbers, joined.

        Most payloads are many short strings (keys, ids, states) around a few long texts; the detector's
        fixed cost per call dominates for short ones. Joined with a separator no recognizer reaches across,
        a part holds a finding only if the joined text holds one overlapping it (context only raises
        scores, and a span crossing parts overlaps them). So the parts no joined finding overlaps are
        known clean for the plan's types and are not scanned again; the others are scanned on their own,
        as if this had not run.
        """
        small = _small_strings(value, node)
        if len(small) < _MIN_SMALL_PARTS:
            return
        findings = self._finder.find(_SEPARATOR.join(small), self._plan.entities)
        clean: list[str] = []
        start = 0
        index = 0
        for part in small:
            end = start + len(part)
            while index < len(findings) and findings[index].end <= start:
                index += 1
            if index == len(findings) or findings[index].start >= end:
                clean.append(part)
            start = end + len(_SEPARATOR)
        self._small_clean = frozenset(clean)

    def value(self, value: Any, node: SchemaNode | None, entities: frozenset[str]) -> Any:
        if node is not None:
            if node.skip:
                return value
            if node.only is not None:
                entities = entities & node.only
        if not entities:
            return value
        kind = type(value)
        if kind is str:
            return self.text(value, entities)
        if kind is dict:
            return self._mapping(value, node, entities)
        if kind is list:
            items = node.items if node is not None else None
            scrubbed = [self.value(item, items, entities) for item in value]
            return scrubbed if any(a is not b for a, b in zip(scrubbed, value, strict=True)) else value
        if kind is int and abs(value) >= _MIN_NUMBER:
            return self._number(value, entities)
        if kind is float and value.is_integer() and _MIN_NUMBER <= abs(value) < _MAX_FLOAT_INTEGER:
            scrubbed = self._number(int(value), entities)
            return value if isinstance(scrubbed, int) else scrubbed
        return value

    def _mapping(self, value: dict[str, Any], node: SchemaNode | None, entities: frozenset[str]) -> Any:
        declared: Mapping[str, SchemaNode | None] = node.properties if node is not None else {}
        additional = node.additional if node is not None else None
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            if key in declared:
                new_key: str | None = key
                child = declared[key]
            else:
                new_key = self._key(key, entities)
                child = additional
            if new_key is None:  # truncated away: the key itself no longer fits the budget
                changed = True
                continue
            new_item = self.value(item, child, entities)
            if new_key is not key:
                new_key = _unique(new_key, out)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value

    def _key(self, key: str, entities: frozenset[str]) -> str | None:
        if len(key) > self._remaining and self._json_depth == 0:
            self._over_budget()
            return None
        return self._scan(key, entities)

    def _number(self, number: int, entities: frozenset[str]) -> Any:
        digits = str(number)
        if len(digits) > self._remaining and self._json_depth == 0:
            self._over_budget()
            return TRUNCATED
        scrubbed = self._scan(digits, entities)
        return number if scrubbed is digits else scrubbed

    def text(self, text: str, entities: frozenset[str]) -> str:
        suffix = ""
        if self._json_depth == 0 and len(text) > self._remaining:
            self._over_budget()
            text, suffix = text[: self._remaining], TRUNCATED
        scanned_for = self._seen.get(text) if len(text) >= MEMO_MIN_CHARS else None
        if scanned_for is not None:
            entities = entities - scanned_for
            if not entities:
                if self._json_depth == 0:
                    self._remaining -= len(text)
                return text + suffix if suffix else text
        outer_masked, self._masked = self._masked, False  # JSON text walks nested texts: keep theirs apart
        scanned: str | None = None
        if self._json_depth < MAX_JSON_NESTING and (text[:1] in ("{", "[") or text[:1].isspace()):
            scanned = self._json_text(text, entities)
        if scanned is None:
            scanned = self._scan(text, entities)
        masked, self._masked = self._masked, outer_masked or self._masked
        if suffix:
            return scanned + suffix
        if self._record and not masked and len(scanned) >= MEMO_MIN_CHARS:
            self.tally.clean[scanned] = entities
        return scanned

    def _json_text(self, text: str, entities: frozenset[str]) -> str | None:
        """Scrubbed JSON text, or None when ``text`` is not a JSON object or array (then it is plain text)."""
        stripped = text.lstrip()
        if stripped[:1] not in ("{", "["):
            return None
        try:
            parsed = loads(stripped)
        except DecodeError:
            return None
        if type(parsed) not in (dict, list):
            return None
        if self._json_depth == 0:
            self._remaining -= len(text)  # charged once, as text; what it holds is then scanned free
        self._json_depth += 1
        try:
            scrubbed = self.value(parsed, None, entities)
        finally:
            self._json_depth -= 1
        return text if scrubbed is parsed else dumps(scrubbed).decode()

    def _scan(self, text: str, entities: frozenset[str]) -> str:
        if self._json_depth == 0:
            self._remaining -= len(text)
        if not text or text in self._small_clean:
            return text
        findings = self._finder.find(text, entities)
        if not findings:
            return text
        actions = self._plan.actions
        counts = self.tally.counts
        parts: list[str] = []
        last = 0
        for finding in findings:
            action = actions.get(finding.entity)
            if action is None:  # not asked for: the detector found more than it was told to look for
                continue
            key = (finding.entity, action)
            counts[key] = counts.get(key, 0) + 1
            if action == "block":
                self.tally.blocked.add(finding.entity)
                continue  # the call is refused; nothing of it is passed on
            parts.append(text[last : finding.start])
            value = text[finding.start : finding.end]
            parts.append(self._replacer.replace(action, finding.entity, value, self._tenant))
            self._masked = self._masked or action == "mask"
            last = finding.end
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)

    def _over_budget(self) -> None:
        if not self._truncate:
            raise OverBudget
        self.tally.truncated = True


#: Between the short strings of :meth:`Walk.prove_small_clean`: no recognizer's candidate spans it.
_SEPARATOR = "\n\x1f\n"
#: Fewer short strings than this are scanned alone: one joined call costs about what four or five small ones do.
_MIN_SMALL_PARTS = 6
#: At most this many characters of short strings are proven clean together (the rest are scanned alone).
_SMALL_TOTAL = 4096


def _small_strings(value: Any, node: SchemaNode | None) -> list[str]:
    """The distinct strings shorter than :data:`MEMO_MIN_CHARS` the walk of ``value`` would scan (keys and
    long numbers too), up to :data:`_SMALL_TOTAL` characters."""
    found: dict[str, None] = {}
    total = 0
    stack: list[tuple[Any, SchemaNode | None]] = [(value, node)]
    while stack and total <= _SMALL_TOTAL:
        item, at = stack.pop()
        if at is not None and at.skip:
            continue
        kind = type(item)
        if kind is str:
            part: str | None = item
        elif kind is dict:
            declared = at.properties if at is not None else {}
            additional = at.additional if at is not None else None
            for key, sub in item.items():
                if key in declared:
                    stack.append((sub, declared[key]))
                    continue
                if len(key) < MEMO_MIN_CHARS and key not in found:
                    found[key] = None
                    total += len(key) + len(_SEPARATOR)
                stack.append((sub, additional))
            continue
        elif kind is list:
            items = at.items if at is not None else None
            stack.extend((sub, items) for sub in item)
            continue
        elif (kind is int and abs(item) >= _MIN_NUMBER) or (
            kind is float and item.is_integer() and _MIN_NUMBER <= abs(item) < _MAX_FLOAT_INTEGER
        ):
            part = str(int(item))
        else:
            continue
        if part is not None and len(part) < MEMO_MIN_CHARS and part not in found:
            found[part] = None
            total += len(part) + len(_SEPARATOR)
    return list(found)


def _unique(key: str, taken: Mapping[str, Any]) -> str:
    """``key``, or ``key#2``, ``key#3``...: two redacted keys must not overwrite each other's values."""
    if key not in taken:
        return key
    number = 2
    while f"{key}#{number}" in taken:
        number += 1
    return f"{key}#{number}"
