"""The Detector: personal data in a text, as typed spans, fast enough for every tool call.

Design (measured on this 2-core machine under a load of about 1.5; ``python -m tests.pii.presidio_baseline``):

- Presidio's AnalyzerEngine on a blank spaCy pipeline with its default recognizers for the six core
  types costs 1,200-1,500 µs per KB of clean text and ~30,000 µs per KB of entity-dense text: every
  recognizer runs its patterns over the whole text, and phonenumbers' matcher runs once per region.
- So one RE2 automaton finds every candidate token first (``candidates``: ``@``, colon pairs, an
  IBAN's head, digit clusters of seven digits or more or holding a dotted quad), on an ASCII image of
  the text: 2-7 µs per KB of prose, which proves most text holds no candidate. Each recognizer is
  given only the windows around tokens of its kinds, clusters without the digits or the shape it
  needs (a card's twelve digits, an SSN's 3-2-4) skipped unseen.
- The validators are compiled once: phonenumbers' region metadata (``phone_regions``, 1-2 µs a
  number instead of 12-16), the dotted quad's rules, an IBAN's shape per length.
- Measured (issue 10, 2026-12-02, thread CPU time, best of 15): prose 7 µs per KB; business text
  dense with near misses (dates, order numbers, amounts, versions) ~240 µs per KB; text with an
  entity in every sentence ~360 µs per KB, about half of the previous design's. Most of what is
  left is Python around each candidate: the phone recognizer's runs (about half), the windows,
  tldextract for each email (5 µs) and context words.
- Presidio's pattern and validation logic is kept where it is good (email, IP, SSN rules) and called
  directly: the AnalyzerEngine's per-call machinery (NLP artifacts, explanations, context enhancer)
  costs more than the recognizers it runs.

Context: a finding whose recognizer's context word appears among the few words before it (or just
after) gets Presidio's boost: +0.35, at least 0.4, at most 1.0. Overlapping findings are resolved to
the highest score, then the longest span.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from gateway.config.model import PiiRecognizerSpec
from gateway.pii.candidates import CandidateScan
from gateway.pii.findings import Finding, RecognizerProblem
from gateway.pii.recognizer import Recognizer, has_context
from gateway.pii.recognizers import core_recognizers
from gateway.pii.recognizers_custom import build_custom
from gateway.pii.recognizers_ner import NER_ENTITIES, SpacyNer
from gateway.pii.recognizers_presidio import OPTIONAL, PresidioPattern

__all__ = ["CORE_ENTITIES", "Detector", "Finding", "RecognizerProblem", "known_entities"]

#: The entity types callgate's shipped configuration detects, each measured on the shipped evaluation set.
CORE_ENTITIES = frozenset(core_recognizers())
#: Candidate passes kept per Detector, one per set of entity types asked for.
_MAX_SCANS = 256
_CONTEXT_BOOST = 0.35
_CONTEXT_FLOOR = 0.4
#: A finding this sure (validated by a checksum or a registry) claims its span from recognizers that yield.
_CLAIMS = 0.9


def known_entities() -> frozenset[str]:
    """Every built-in entity type a Detector can be asked for (custom recognizers add their own)."""
    return CORE_ENTITIES | frozenset(OPTIONAL) | NER_ENTITIES


class Detector:
    """Built once per configuration (at load, off the request path); thread-safe; find() is CPU-bound."""

    def __init__(
        self,
        entities: Collection[str],
        recognizers: Sequence[PiiRecognizerSpec] = (),
        *,
        score_threshold: float = 0.5,
        allow_list: Collection[str] = (),
        nlp_model: str | None = None,
    ) -> None:
        custom: list[Recognizer] = []
        for spec in recognizers:
            custom.extend(build_custom(spec))
        custom_entities = frozenset(spec.entity for spec in recognizers)
        wanted = frozenset(entities) | custom_entities
        unknown = wanted - known_entities() - custom_entities
        if unknown:
            raise ValueError(
                f"unknown PII entity type(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known_entities()))}"
                " (or a custom recognizer's entity)"
            )
        ner = (wanted & NER_ENTITIES) - custom_entities
        if ner and nlp_model is None:
            raise ValueError(f"{', '.join(sorted(ner))} need(s) an NER model: set pii.nlp_model")
        built: list[Recognizer] = [cls() for entity, cls in core_recognizers().items() if entity in wanted]
        built.extend(PresidioPattern(entity) for entity in sorted(wanted & frozenset(OPTIONAL)))
        if ner and nlp_model is not None:
            built.append(SpacyNer(nlp_model, ner))
        built.extend(custom)
        self._entities = wanted
        self._windowed = tuple(r for r in built if r.kinds)
        self._whole = tuple(r for r in built if not r.kinds)
        # The candidate pass for each set of entity types asked for (a handful per configuration: the plans).
        self._scans: dict[frozenset[str], CandidateScan] = {wanted: CandidateScan(self._windowed)}
        self._threshold = score_threshold
        self._allow = frozenset(value.strip().casefold() for value in allow_list)

    @property
    def entities(self) -> frozenset[str]:
        return self._entities

    def find(self, text: str, entities: Collection[str] | None = None) -> list[Finding]:
        """Findings for ``entities`` (default: all of self.entities), non-overlapping, sorted by start.

        Cost: ~7 µs per KB of prose; ~240 µs per KB of business text dense with near misses; ~360 µs
        per KB of text with an entity in every sentence (see the module docstring).
        Never touches the network; safe to call from several threads at once.
        """
        wanted = self._entities if entities is None else frozenset(entities)
        if not wanted <= self._entities:
            raise ValueError(f"entity type(s) not configured: {', '.join(sorted(wanted - self._entities))}")
        hits: list[Finding] = []
        # One automaton finds every candidate; each recognizer is given only the windows around its own.
        found = self._scan_for(wanted).windows(text)
        for recognizer, spans in found:
            if not recognizer.yields:
                for start, end in spans:
                    hits.extend(self._scored(recognizer, text, start, end))
        claimed = sorted((hit.start, hit.end) for hit in hits if hit.score >= _CLAIMS) if hits else []
        for recognizer, spans in found:
            if recognizer.yields:
                for start, end in _unclaimed(spans, claimed) if claimed else spans:
                    hits.extend(self._scored(recognizer, text, start, end))
        for recognizer in self._whole:
            if recognizer.entities & wanted:
                hits.extend(self._scored(recognizer, text, 0, len(text)))
        if not hits:
            return hits
        kept = [
            hit
            for hit in hits
            if hit.entity in wanted
            and hit.score >= self._threshold
            and (not self._allow or text[hit.start : hit.end].strip().casefold() not in self._allow)
        ]
        return _resolve(kept)

    def _scan_for(self, wanted: frozenset[str]) -> CandidateScan:
        scan = self._scans.get(wanted)
        if scan is None:
            scan = CandidateScan([r for r in self._windowed if r.entities & wanted])
            if len(self._scans) < _MAX_SCANS:  # entity type names only: nothing of any text is kept
                self._scans[wanted] = scan
        return scan

    @staticmethod
    def _scored(recognizer: Recognizer, text: str, start: int, end: int) -> Iterable[Finding]:
        context = recognizer.context
        for hit in recognizer.scan(text, start, end):
            if hit.score < 1.0 and context and has_context(text, hit.start, hit.end, context):
                boosted = round(min(1.0, max(hit.score + _CONTEXT_BOOST, _CONTEXT_FLOOR)), 2)
                yield Finding(hit.entity, hit.start, hit.end, boosted)
            else:
                yield hit


def _unclaimed(windows: list[tuple[int, int]], claimed: list[tuple[int, int]]) -> Iterable[tuple[int, int]]:
    """The parts of ``windows`` outside every ``claimed`` span (both sorted)."""
    for start, end in windows:
        for claim_start, claim_end in claimed:
            if claim_end <= start or claim_start >= end:
                continue
            if claim_start > start:
                yield start, claim_start
            start = max(start, claim_end)
        if start < end:
            yield start, end


def _resolve(hits: list[Finding]) -> list[Finding]:
    """Non-overlapping findings: the highest score wins, then the longer span, then the earlier one."""
    if len(hits) < 2:
        return hits
    chosen: list[Finding] = []
    for hit in sorted(hits, key=lambda h: (-h.score, h.start - h.end, h.start)):
        if all(hit.end <= other.start or hit.start >= other.end for other in chosen):
            chosen.append(hit)
    return sorted(chosen, key=lambda h: h.start)
