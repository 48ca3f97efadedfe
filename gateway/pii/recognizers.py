"""The recognizer interface, context scoring, and the built-in recognizers of the six core entity types.

A recognizer scans ``text[pos:endpos]`` and yields findings with absolute offsets and a base score;
the detector raises the score when one of the recognizer's context words stands nearby. A recognizer
with an ``anchor`` (an RE2 expression for something every one of its entities must contain) is given
only the windows around anchor matches; one without is given the whole text.

Where each core type comes from, and why:

- EMAIL_ADDRESS: Presidio's EmailRecognizer pattern and its validation (the domain must end in a public
  suffix), with tldextract held to its bundled snapshot (``_offline_suffixes``).
- IP_ADDRESS: Presidio's IpRecognizer patterns and ``ipaddress`` validation, plus two refusals it lacks:
  a dotted quad inside a longer dotted number (an OID, ``1.2.3.4.5``) and one named as a version.
- CREDIT_CARD: replaced. Presidio's pattern knows 4/5[0-5]/6/3/1 prefixes and at most 17 digits; this
  one takes any grouping, checks the issuer's IIN range and length (``patterns.card_issuer``) and Luhn.
- PHONE_NUMBER: replaced. Presidio runs phonenumbers' matcher once per region over the whole text
  (eight regions, about 50 µs per candidate per region) and misses national formats of every other
  region and separators the matcher's leniency refuses. This one takes any run of digits and phone
  punctuation, validates international numbers with phonenumbers, and national ones against each
  region's number pattern first (cheap) and phonenumbers second; context words lift weak shapes.
- US_SSN: Presidio's patterns and rules, plus areas 900-999 (never issued) and a context requirement
  for undelimited nine-digit numbers (Presidio scores them 0.05, so they are never found at all).
- IBAN_CODE: replaced. Presidio's pattern wants upper case and four-character groups; this one takes
  either case and any grouping, cuts the candidate at its country's IBAN length and checks mod 97.
"""

from __future__ import annotations

import ipaddress
import re
import string
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import phonenumbers
import tldextract
from phonenumbers import PhoneMetadata
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer

from gateway.pii.findings import Finding
from gateway.pii.patterns import IBAN_LENGTHS, card_issuer, iban_valid, luhn_valid, ssn_valid


class Recognizer(ABC):
    """Finds one or more entity types; built once, then only read (so ``scan`` is thread-safe)."""

    #: The entity types this recognizer can report.
    entities: frozenset[str]
    #: RE2 source of an anchor every finding contains or touches; None: scan the whole text.
    anchor: str | None = None
    #: How far a finding may reach before and after its anchor's match, in characters.
    reach: tuple[int, int] = (96, 96)
    #: Lower-case words that, near a finding, raise its score.
    context: frozenset[str] = frozenset()
    #: Scan only what validated findings of the other recognizers left (a phone shape inside an IBAN is not one).
    yields: bool = False

    @abstractmethod
    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        """Findings inside ``text[pos:endpos]``, offsets into ``text``, scores before context."""


_CONTEXT_CHARS = 96
_WORDS_BEFORE = 7
_WORDS_AFTER = 3
_PUNCTUATION = "".join(sorted(set(string.punctuation) - {"-"})) + "\u00ab\u00bb\u201c\u201d\u2018\u2019"


def has_context(text: str, start: int, end: int, context: frozenset[str]) -> bool:
    """One of ``context`` among the words before ``text[start:end]`` or just after it (Presidio looks 5 back).

    Words are split at whitespace, so an email address or a hyphenated name is one word each.
    """
    before = text[max(0, start - _CONTEXT_CHARS) : start].split()[-_WORDS_BEFORE:]
    after = text[end : end + _CONTEXT_CHARS].split()[:_WORDS_AFTER]
    return any(word.strip(_PUNCTUATION).lower() in context for word in (*before, *after))


class EmailAddress(Recognizer):
    entities = frozenset({"EMAIL_ADDRESS"})
    anchor = "@"
    reach = (72, 96)  # a local part has at most 64 characters
    context = frozenset({"email", "e-mail", "mail", "contact", "address"})
    _pattern = re.compile(EmailRecognizer.PATTERNS[0].regex, re.IGNORECASE)

    def __init__(self) -> None:
        self._suffixes = _offline_suffixes()

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for match in self._pattern.finditer(text, pos, endpos):
            domain = match.group().rpartition("@")[2]
            if self._suffixes(domain).fqdn:
                yield Finding("EMAIL_ADDRESS", match.start(), match.end(), 1.0)


def _offline_suffixes() -> tldextract.TLDExtract:
    """A suffix extractor that reads only tldextract's bundled Public Suffix List snapshot.

    ``tldextract.extract`` (what Presidio's EmailRecognizer calls) uses a module-level extractor that,
    on first use with no cache, requests the list from publicsuffix.org and writes it under
    ~/.cache. No URLs and no cache dir leave it only the snapshot shipped in the package; loading it
    here, once, means no scan ever mutates the extractor.
    """
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    extractor("example.com")
    return extractor


class IpAddress(Recognizer):
    entities = frozenset({"IP_ADDRESS"})
    # A dotted quad, or two colons with at most four hex digits between (every IPv6 form has such a pair).
    anchor = r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:"
    reach = (48, 56)  # an IPv6 address with a zone and prefix has at most ~50
    context = frozenset({"ip", "ipv4", "ipv6", "address", "host", "server", "client", "from", "source"})
    _patterns = tuple(re.compile(p.regex, re.IGNORECASE) for p in IpRecognizer.PATTERNS if p.score >= 0.5)
    _version = re.compile(
        r"(?:\bv|\b(?:version|ver|firmware|build|release|rev|revision|patch|section|sec|clause|chapter|oid)\W{0,3})$",
        re.IGNORECASE,
    )

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for pattern in self._patterns:
            for match in pattern.finditer(text, pos, endpos):
                start, end = match.span()
                try:
                    ipaddress.ip_interface(match.group())
                except ValueError:
                    continue
                if "." in match.group() and (_dotted_continues(text, start, end) or self._named_version(text, start)):
                    continue
                yield Finding("IP_ADDRESS", start, end, 0.9)

    def _named_version(self, text: str, start: int) -> bool:
        return self._version.search(text, max(0, start - 12), start) is not None


def _dotted_continues(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return (len(before) == 2 and before[1] == "." and before[0].isdigit()) or (
        len(after) == 2 and after[0] == "." and after[1].isdigit()
    )


class CreditCard(Recognizer):
    entities = frozenset({"CREDIT_CARD"})
    anchor = r"\d(?:[ \-]?\d){11}"
    reach = (8, 32)
    context = frozenset({"card", "credit", "debit", "visa", "mastercard", "amex", "cc", "pan", "payment"})
    _run = re.compile(r"(?<![\w+\-.,/])\d+(?:[ \-]\d+)*(?![\w\-]|[.,/]\d)")
    _group = re.compile(r"\d+")

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for run in self._run.finditer(text, pos, endpos):
            groups = [(g.start(), g.end()) for g in self._group.finditer(text, run.start(), run.end())]
            i = 0
            while i < len(groups):
                found = self._longest_card(text, groups, i)
                if found is None:
                    i += 1
                    continue
                j, grouped = found
                yield Finding("CREDIT_CARD", groups[i][0], groups[j - 1][1], 1.0 if grouped else 0.9)
                i = j

    @staticmethod
    def _longest_card(text: str, groups: list[tuple[int, int]], i: int) -> tuple[int, bool] | None:
        """The end (exclusive group index) of the longest card starting at group ``i``, and if it is grouped."""
        digits = ""
        best: tuple[int, bool] | None = None
        for j in range(i, len(groups)):
            digits += text[groups[j][0] : groups[j][1]]
            if len(digits) > 19:
                break
            if len(digits) >= 12 and card_issuer(digits) and luhn_valid(digits):
                best = (j + 1, j > i)
        return best


class UsSsn(Recognizer):
    entities = frozenset({"US_SSN"})
    anchor = r"\d{3}[ .\-]?\d{2}[ .\-]?\d{4}"
    reach = (8, 8)
    context = frozenset({"ssn", "ssns", "social", "security", "ss", "taxpayer", "tin", "ssa"})
    _pattern = re.compile(r"(?<![\w\-.+/])(\d{3})([ .\-]?)(\d{2})\2(\d{4})(?![\w\-]|[.,/]\d)")
    _scores: ClassVar[dict[str, float]] = {"-": 0.6, " ": 0.5, ".": 0.5, "": 0.3}

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for match in self._pattern.finditer(text, pos, endpos):
            if ssn_valid(match.group(1) + match.group(3) + match.group(4)):
                yield Finding("US_SSN", match.start(), match.end(), self._scores[match.group(2)])


class Iban(Recognizer):
    entities = frozenset({"IBAN_CODE"})
    anchor = r"[A-Za-z]{2}\d{2}"
    reach = (4, 48)  # 34 characters and their spaces
    context = frozenset({"iban", "bank", "account", "transfer", "wire", "sepa", "beneficiary"})
    _start = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}")

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for match in self._start.finditer(text, pos, endpos):
            length = IBAN_LENGTHS.get(match.group()[:2].upper())
            if length is None:
                continue
            end = _iban_end(text, match.start(), length, endpos)
            if end is None:
                continue
            compact = "".join(c for c in text[match.start() : end] if c.isalnum()).upper()
            if iban_valid(compact):
                yield Finding("IBAN_CODE", match.start(), end, 1.0)


def _iban_end(text: str, start: int, length: int, endpos: int) -> int | None:
    """Where an IBAN of ``length`` characters starting at ``start`` ends (single spaces or dashes between)."""
    count, i = 0, start
    while i < endpos and count < length:
        char = text[i]
        if char.isascii() and char.isalnum():
            count += 1
        elif char not in " -" or i + 1 >= endpos or not text[i + 1].isalnum() or text[i - 1] in " -":
            return None
        i += 1
    if count < length or (i < len(text) and text[i].isalnum()):
        return None
    return i


#: Regions whose national formats are tried, most common in callgate's deployments first.
PHONE_REGIONS: tuple[str, ...] = (
    "US", "GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "IE", "SE", "NO", "DK", "FI", "PL", "PT",
    "CZ", "AU", "NZ", "CA", "IN", "BR", "MX", "JP", "SG", "HK", "ZA", "IL", "AE",
)  # fmt: skip


class PhoneNumber(Recognizer):
    entities = frozenset({"PHONE_NUMBER"})
    anchor = r"\d(?:[ .\-()/]{0,3}\d){6}"
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
        self._regions = tuple(_RegionRule(region) for region in regions)
        # Every region of every country code, for international numbers: built once, read by scans.
        self._by_code = {
            code: tuple(_RegionRule(region) for region in regions_of if region != "001")
            for code, regions_of in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        }

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for match in self._run.finditer(text, pos, endpos):
            before = [
                w
                for w in (
                    w.strip(_PUNCTUATION).lower() for w in text[max(0, match.start() - 24) : match.start()].split()
                )
                if w
            ]
            if before and before[-1] in self._reference:
                continue
            found = next(self._best_in_run(match.group(), match.start(), False), None)
            if found is None and has_context(text, match.start(), match.end(), self.context):
                found = next(self._best_in_run(match.group(), match.start(), True), None)
            if found is not None:
                yield found

    def _best_in_run(self, run: str, offset: int, near: bool) -> Iterator[Finding]:
        """The run as a whole, else with up to two trailing, then leading, space-separated groups dropped."""
        cuts = [i for i, c in enumerate(run) if c == " " and i and run[i - 1] not in "+("]
        bounds = [(0, len(run))] + [(0, c) for c in reversed(cuts[-2:])] + [(c + 1, len(run)) for c in cuts[:2]]
        for start, end in bounds:
            candidate = run[start:end].strip(" .-/")
            score = self._score(candidate, near)
            if score is not None:
                lead = run.index(candidate, start)
                yield Finding("PHONE_NUMBER", offset + lead, offset + lead + len(candidate), score)
                return

    def _score(self, candidate: str, near: bool) -> float | None:
        """The base score of a candidate, or None when it cannot be a phone number.

        International numbers (``+`` or ``00``) are validated by phonenumbers and score high. A national
        number is valid in some region almost whatever its digits (eight digits are a Danish or Hong Kong
        number), so its shape decides: the North American shape, or a trunk prefix ``0`` with grouping,
        score above the default threshold; anything else needs a context word (``near``), and is not
        even validated without one: that is most of the cost of clean text with long numbers.
        """
        digits = "".join(c for c in candidate if c.isdigit())
        if not 7 <= len(digits) <= 15 or candidate.count("(") != candidate.count(")"):
            return None
        if self._date.fullmatch(candidate) or self._ssn_shape.fullmatch(candidate):
            return None
        looks_like_amount = self._thousands.fullmatch(candidate) is not None
        if candidate.startswith(("+", "(+", "00")):
            return self._international(digits[2:] if candidate.startswith("00") else digits)
        if self._nanp.fullmatch(candidate):
            # The North American shape: people write it for fictional and test lines too, so not only valid ones.
            return 0.6
        grouped = any(c in candidate for c in " .-/()")
        for rule in self._regions:
            trunk = bool(rule.trunk) and digits.startswith(rule.trunk)
            if (near or (trunk and not looks_like_amount)) and rule.valid(digits):
                if looks_like_amount:
                    return 0.2  # 1.234.567: only a phone when a context word says so
                if trunk:
                    return 0.6 if grouped else 0.45
                return 0.4
        return None

    def _international(self, digits: str) -> float | None:
        """0.95 for a valid number after a country code (one to three digits, as E.164 assigns them)."""
        for length in (1, 2, 3):
            rules = self._by_code.get(int(digits[:length]))
            if rules:
                national = digits[length:]
                national = (
                    national[1:] if national.startswith("0") and digits[:length] not in ("39", "225") else national
                )
                if any(rule.valid(national, international=True) for rule in rules):
                    return 0.95
                break
        return _international_slow(digits)


def _international_slow(digits: str) -> float | None:
    """phonenumbers' full parse, for what the fast path refused: a possible number (right length) scores 0.5."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(number):
        return 0.95
    return 0.5 if phonenumbers.is_possible_number(number) else None


class _RegionRule:
    """One region's national number pattern, compiled once: a cheap test before phonenumbers' full parse."""

    def __init__(self, region: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.general_desc is None:
            raise ValueError(f"unknown phone region {region!r}")
        self.region = region
        self._country_code = metadata.country_code
        #: The national trunk prefix people dial inside the country ("0" in most of Europe), if any.
        self.trunk = metadata.national_prefix or ""
        self._prefix = re.compile(metadata.national_prefix_for_parsing or metadata.national_prefix or "(?!)")
        self._national = re.compile(metadata.general_desc.national_number_pattern or "(?!)")
        # phonenumbers loads a region's metadata on first use; loading it here keeps valid() free of writes.
        example = phonenumbers.example_number(region)
        if example is not None:
            self.valid(phonenumbers.national_significant_number(example))

    def valid(self, digits: str, *, international: bool = False) -> bool:
        """``digits`` (as written nationally, trunk prefix included or not) are a valid number of this region.

        The region's general pattern, compiled once, rejects most candidates; survivors are checked by
        phonenumbers on a number built directly, which skips parse() (half of phonenumbers' cost).
        """
        national = digits if self._national.fullmatch(digits) else None
        if national is None and not international:
            prefix = self._prefix.match(digits)
            if prefix is None or not self._national.fullmatch(digits[prefix.end() :]):
                return False
            national = digits[prefix.end() :]
        if national is None:
            return False
        zeros = len(national) - len(national.lstrip("0"))
        number = phonenumbers.PhoneNumber(
            country_code=self._country_code,
            national_number=int(national),
            italian_leading_zero=zeros > 0 or None,
            number_of_leading_zeros=zeros if zeros > 1 else None,
        )
        return bool(phonenumbers.is_valid_number_for_region(number, self.region))


def core_recognizers() -> dict[str, type[Recognizer]]:
    """The recognizer class of each core entity type."""
    return {
        "EMAIL_ADDRESS": EmailAddress,
        "PHONE_NUMBER": PhoneNumber,
        "CREDIT_CARD": CreditCard,
        "US_SSN": UsSsn,
        "IBAN_CODE": Iban,
        "IP_ADDRESS": IpAddress,
    }
