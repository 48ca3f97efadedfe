"""PHONE_NUMBER: any run of digits and phone punctuation, validated against phonenumbers' region metadata.

Presidio runs phonenumbers' matcher once per region over the whole text (eight regions, about 50 µs
per candidate per region) and misses national formats of every other region and separators the
matcher's leniency refuses. This recognizer takes any run of digits and phone punctuation, validates
international numbers against the regions of their country code, and national ones against each
region's number pattern (``phone_regions``); context words lift weak shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from gateway.pii.findings import Finding
from gateway.pii.phone_regions import RegionRule, region_rules, rules_by_code
from gateway.pii.recognizer import PUNCTUATION, Recognizer, has_context

_NOT_DIGITS = str.maketrans("", "", " .-()/+")
#: Regions whose national formats are tried, most common in callgate's deployments first.
PHONE_REGIONS: tuple[str, ...] = (
    "US", "GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "IE", "SE", "NO", "DK", "FI", "PL", "PT",
    "CZ", "AU", "NZ", "CA", "IN", "BR", "MX", "JP", "SG", "HK", "ZA", "IL", "AE",
)  # fmt: skip


class PhoneNumber(Recognizer):
    entities = frozenset({"PHONE_NUMBER"})
    kinds = frozenset({"digits"})
    min_digits = 7
    reach = (12, 32)  # "(+" before the first digit; at most 15 digits
    context = frozenset({
        "phone", "phones", "telephone", "tel", "mobile", "cell", "cellphone", "call", "called", "calls", "callback",
        "caller", "fax", "whatsapp", "sms", "text", "reach", "reached", "contact", "ph", "hotline", "landline",
        "dial", "ring", "voicemail", "telefon", "tél", "téléphone", "handy", "numéro",
    })  # fmt: skip
    _run = re.compile(r"(?<![\w+\-./])(?:\+|\(\+|00(?=[1-9]))?\(?\d[\d .\-()/]{4,24}\d\)?(?![\w]|[.\-/]\d)")
    _date = re.compile(r"\d{4}[-./]\d\d?[-./]\d\d?|\d\d?[-./]\d\d?[-./]\d{2,4}")
    _thousands = re.compile(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})+")
    _ssn_shape = re.compile(r"\d{3}-\d{2}-\d{4}")
    _nanp = re.compile(r"(?:\+?1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}")
    #: A number right after one of these words is a reference of that kind, not a phone.
    _reference = frozenset({
        "ref", "reference", "order", "invoice", "inv", "po", "build", "ticket", "sku", "serial", "lot", "batch",
        "tracking", "case", "version", "release", "section", "isbn", "contract", "item", "part", "model",
        "pallet", "barcode",
    })  # fmt: skip

    yields = True

    def __init__(self, regions: tuple[str, ...] = PHONE_REGIONS) -> None:
        rules = region_rules()
        self._regions = tuple(rules[region] for region in regions)
        # Without a context word only numbers written with a region's trunk prefix are tried: these, in order.
        self._trunked = tuple(rule for rule in self._regions if rule.trunk)
        self._by_code = rules_by_code()

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for match in self._run.finditer(text, pos, endpos):
            if self._after_reference(text, match.start()):
                continue
            found = next(self._best_in_run(match.group(), match.start(), False), None)
            if found is None and has_context(text, match.start(), match.end(), self.context):
                found = next(self._best_in_run(match.group(), match.start(), True), None)
            if found is not None:
                yield found

    def _after_reference(self, text: str, start: int) -> bool:
        """The last word before ``start`` (punctuation aside) names a kind of reference number."""
        for word in reversed(text[max(0, start - 24) : start].split()):
            word = word.strip(PUNCTUATION)
            if word:
                return word.lower() in self._reference
        return False

    def _best_in_run(self, run: str, offset: int, near: bool) -> Iterator[Finding]:
        """The run as a whole, else with up to two trailing, then leading, space-separated groups dropped."""
        for start, end in self._bounds(run):
            candidate = run[start:end].strip(" .-/")
            score = self._score(candidate, near)
            if score is not None:
                lead = run.index(candidate, start)
                yield Finding("PHONE_NUMBER", offset + lead, offset + lead + len(candidate), score)
                return

    @staticmethod
    def _bounds(run: str) -> Iterator[tuple[int, int]]:
        yield 0, len(run)  # the usual answer: the cuts below are found only when it is not
        cuts = [i for i, c in enumerate(run) if c == " " and i and run[i - 1] not in "+("]
        for cut in reversed(cuts[-2:]):
            yield 0, cut
        for cut in cuts[:2]:
            yield cut + 1, len(run)

    def _score(self, candidate: str, near: bool) -> float | None:
        """The base score of a candidate, or None when it cannot be a phone number.

        International numbers (``+`` or ``00``) are validated against their country code's regions and
        score high. A national number is valid in some region almost whatever its digits (eight digits
        are a Danish or Hong Kong number), so its shape decides: the North American shape, or a trunk
        prefix ``0`` with grouping, score above the default threshold; anything else needs a context
        word (``near``), and is not even validated without one: that is most of the cost of clean text
        with long numbers.
        """
        digits = candidate.translate(_NOT_DIGITS)  # a run holds digits, these and nothing else
        if not 7 <= len(digits) <= 15 or candidate.count("(") != candidate.count(")"):
            return None
        if candidate.startswith(("+", "(+")):  # no date, SSN or amount starts so
            return self._international(digits)
        if self._date.fullmatch(candidate) or self._ssn_shape.fullmatch(candidate):
            return None
        if candidate.startswith("00"):
            return self._international(digits[2:])
        looks_like_amount = self._thousands.fullmatch(candidate) is not None
        if self._nanp.fullmatch(candidate):
            # The North American shape: people write it for fictional and test lines too, so not only valid ones.
            return 0.6
        grouped = any(c in candidate for c in " .-/()")
        if not near and looks_like_amount:
            return None  # 1.234.567: only a phone when a context word says so
        for rule in self._regions if near else self._trunked:
            trunk = bool(rule.trunk) and digits.startswith(rule.trunk)
            if (near or trunk) and rule.valid(digits):
                if looks_like_amount:
                    return 0.2
                if trunk:
                    return 0.6 if grouped else 0.45
                return 0.4
        return None

    def _international(self, digits: str) -> float | None:
        """0.95 for a valid number after a country code (one to three digits, as E.164 assigns them)."""
        for length in (1, 2, 3):
            code = int(digits[:length])
            if code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                continue
            national = digits[length:]
            national = national[1:] if national.startswith("0") and code not in (39, 225) else national
            rules: tuple[RegionRule, ...] = self._by_code.get(code, ())
            if any(rule.valid(national, international=True) for rule in rules):
                return 0.95
            return _international_slow(digits)
        return None  # no country code starts the digits: phonenumbers' parse would refuse them too


def _international_slow(digits: str) -> float | None:
    """phonenumbers' full parse, for what the fast path refused: a possible number (right length) scores 0.5.

    The parse also strips national prefixes and carrier codes, knows non-geographic codes (800, 808...)
    and answers whether the length is possible; it costs about 55 µs, so it runs only for digits after a
    known country code that no region of that code accepts as they stand.
    """
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(number):
        return 0.95
    return 0.5 if phonenumbers.is_possible_number(number) else None
