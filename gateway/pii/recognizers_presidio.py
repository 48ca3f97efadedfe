"""Optional entity types: Presidio's own pattern recognizers that validate what they match.

These are offered as they are (Presidio's patterns, checksums and context words), for deployments
that need them. They have no cheap anchor, so each runs over the whole text: roughly 10-40 µs per KB
per type on top of the core types (see ``detector.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from presidio_analyzer import PatternRecognizer
from presidio_analyzer import predefined_recognizers as presidio

from gateway.pii.findings import Finding
from gateway.pii.recognizer import Recognizer

#: Entity type -> Presidio recognizer class; chosen for a checksum or a shape specific enough to stand alone.
OPTIONAL: dict[str, Callable[[], PatternRecognizer]] = {
    "URL": presidio.UrlRecognizer,
    "MAC_ADDRESS": presidio.MacAddressRecognizer,
    "CRYPTO": presidio.CryptoRecognizer,
    "UUID": presidio.UuidRecognizer,
    "UK_NHS": presidio.NhsRecognizer,
    "UK_NINO": presidio.UkNinoRecognizer,
    "US_ITIN": presidio.UsItinRecognizer,
    "IN_PAN": presidio.InPanRecognizer,
    "IN_AADHAAR": presidio.InAadhaarRecognizer,
    "ES_NIF": presidio.EsNifRecognizer,
    "ES_NIE": presidio.EsNieRecognizer,
    "IT_FISCAL_CODE": presidio.ItFiscalCodeRecognizer,
    "PL_PESEL": presidio.PlPeselRecognizer,
    "AU_ABN": presidio.AuAbnRecognizer,
    "AU_TFN": presidio.AuTfnRecognizer,
    "SG_NRIC_FIN": presidio.SgFinRecognizer,
    "FI_PERSONAL_IDENTITY_CODE": presidio.FiPersonalIdentityCodeRecognizer,
}


class PresidioPattern(Recognizer):
    """One of Presidio's PatternRecognizers, called directly (no AnalyzerEngine, no NLP artifacts)."""

    def __init__(self, entity: str) -> None:
        self.entities = frozenset({entity})
        self._entity = entity
        self._recognizer = OPTIONAL[entity]()
        self.context = frozenset(word.strip().lower() for word in self._recognizer.context or ())
        # Presidio compiles each pattern on first use; doing it here keeps scan() free of writes.
        self._recognizer.analyze("warm up", [entity], None)

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for result in self._recognizer.analyze(text[pos:endpos], [self._entity], None):
            yield Finding(self._entity, pos + result.start, pos + result.end, float(result.score))
