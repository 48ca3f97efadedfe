"""Names of people, places and organisations, from a configured spaCy NER model (``pii.nlp_model``).

Only an installed model is used: a package (``en_core_web_sm``) or a directory a pipeline was saved
to. Nothing is ever downloaded; Presidio's SpacyNlpEngine would call ``spacy.cli.download`` for a
missing model, which is why callgate loads the model itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import spacy
from spacy.language import Language

from gateway.pii.findings import Finding
from gateway.pii.recognizer import Recognizer

#: spaCy labels (OntoNotes and WikiNER schemes) -> callgate entity types.
LABELS: dict[str, str] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
    "NORP": "NRP",
}
NER_ENTITIES = frozenset(LABELS.values())
#: Presidio's SpacyRecognizer score.
_SCORE = 0.85


class SpacyNer(Recognizer):
    """A spaCy pipeline with an ``ner`` (or entity ruler) component; one call serves every NER type."""

    def __init__(self, model: str, entities: frozenset[str]) -> None:
        if not (spacy.util.is_package(model) or Path(model).is_dir()):
            raise ValueError(
                f"pii.nlp_model {model!r} is not installed (install the spaCy model package or give the "
                "directory of a saved pipeline); callgate never downloads models"
            )
        self.entities = entities
        self._nlp: Language = spacy.load(model)
        # A Language object is not documented as safe for concurrent calls; one at a time.
        self._lock = threading.Lock()

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        with self._lock:
            doc = self._nlp(text[pos:endpos])
        for ent in doc.ents:
            entity = LABELS.get(ent.label_)
            if entity in self.entities:
                yield Finding(entity, pos + ent.start_char, pos + ent.end_char, _SCORE)
