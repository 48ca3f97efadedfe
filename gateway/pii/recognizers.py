"""The built-in recognizers of the core entity types, and the registry the detector builds them from.

Where each core type comes from, and why:

- EMAIL_ADDRESS: Presidio's EmailRecognizer pattern and its validation (the domain must end in a public
  suffix), with tldextract held to its bundled snapshot (``_offline_suffixes``).
- IP_ADDRESS: Presidio's IpRecognizer patterns and ``ipaddress``'s rules, plus two refusals it lacks:
  a dotted quad inside a longer dotted number (an OID, ``1.2.3.4.5``) and one named as a version.
- CREDIT_CARD: replaced. Presidio's pattern knows 4/5[0-5]/6/3/1 prefixes and at most 17 digits; this
  one takes any grouping, checks the issuer's IIN range and length (``patterns.card_issuer``) and Luhn.
- PHONE_NUMBER: replaced; see ``recognizers_phone``.
- US_SSN: Presidio's patterns and rules, plus areas 900-999 (never issued) and a context requirement
  for undelimited nine-digit numbers (Presidio scores them 0.05, so they are never found at all).
- IBAN_CODE: replaced. Presidio's pattern wants upper case and four-character groups; this one takes
  either case and any grouping, cuts the candidate at its country's IBAN length and checks mod 97.

Each declares the kinds of candidate token its findings hold (``candidates``); the email and IP
recognizers' findings hold no whitespace, so their windows are the words around the token.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import ClassVar

import tldextract
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer

from gateway.pii.findings import Finding
from gateway.pii.patterns import IBAN_LENGTHS, card_issuer, card_prefix, iban_valid, luhn_valid, ssn_valid
from gateway.pii.recognizer import Recognizer
from gateway.pii.recognizers_phone import PhoneNumber


class EmailAddress(Recognizer):
    entities = frozenset({"EMAIL_ADDRESS"})
    kinds = frozenset({"@"})
    reach = (72, 96)  # a local part has at most 64 characters
    token = True
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
    kinds = frozenset({":", "digits"})
    min_digits, cluster_shape = 4, r"\d\.\d{1,3}\.\d{1,3}\.\d"
    reach = (48, 56)  # an IPv6 address with a zone and prefix has at most ~50
    token = True
    context = frozenset({"ip", "ipv4", "ipv6", "address", "host", "server", "client", "from", "source"})
    #: Presidio's patterns, each with a character it cannot match without: only the plain dotted quad
    #: ("IPv4") matches without a colon, and the IPv6 forms are costly to try.
    _patterns = tuple(
        (re.compile(p.regex, re.IGNORECASE), "." if p.name == "IPv4" else ":")
        for p in IpRecognizer.PATTERNS
        if p.score >= 0.5
    )
    _version = re.compile(
        r"(?:\bv|\b(?:version|ver|firmware|build|release|rev|revision|patch|section|sec|clause|chapter|oid)\W{0,3})$",
        re.IGNORECASE,
    )

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for pattern, needs in self._patterns:
            if text.find(needs, pos, endpos) < 0:
                continue
            for match in pattern.finditer(text, pos, endpos):
                start, end = match.span()
                value = match.group()
                if not (_ipv4_valid(value) if needs == "." else _ip_valid(value)):
                    continue
                if "." in value and (_dotted_continues(text, start, end) or self._named_version(text, start)):
                    continue
                yield Finding("IP_ADDRESS", start, end, 0.9)

    def _named_version(self, text: str, start: int) -> bool:
        return self._version.search(text, max(0, start - 12), start) is not None


def _ip_valid(value: str) -> bool:
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return False
    return True


def _ipv4_valid(value: str) -> bool:
    """What ``ipaddress.ip_interface`` says of a match of Presidio's IPv4 pattern, at a fifth of its cost.

    The pattern already holds each octet to 0-255 and the prefix to 0-32; ``ipaddress`` refuses besides
    only octets with a leading zero and a prefix of digits other than ASCII (the pattern's ``\\d``).
    """
    address, _, prefix = value.partition("/")
    if prefix and not (prefix.isascii() and prefix.isdigit()):
        return False
    return all(octet == "0" or octet[0] != "0" for octet in address.split("."))


def _dotted_continues(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return (len(before) == 2 and before[1] == "." and before[0].isdigit()) or (
        len(after) == 2 and after[0] == "." and after[1].isdigit()
    )


class CreditCard(Recognizer):
    entities = frozenset({"CREDIT_CARD"})
    kinds = frozenset({"digits"})
    min_digits, cluster_shape = 12, r"\d(?:[ \-]?\d){11}"
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
            if len(digits) > 19 or (len(digits) >= 4 and not card_prefix(digits)):
                break
            if len(digits) >= 12 and card_issuer(digits) and luhn_valid(digits):
                best = (j + 1, j > i)
        return best


class UsSsn(Recognizer):
    entities = frozenset({"US_SSN"})
    kinds = frozenset({"digits"})
    min_digits, cluster_shape = 9, r"\d{3}[ .\-]?\d{2}[ .\-]?\d{4}"
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
    kinds = frozenset({"letters"})
    reach = (4, 48)  # 34 characters and their spaces
    context = frozenset({"iban", "bank", "account", "transfer", "wire", "sepa", "beneficiary"})
    _start = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}")
    #: An IBAN of each length: ASCII letters and digits, single spaces or dashes between.
    _shapes: ClassVar[dict[int, re.Pattern[str]]] = {
        length: re.compile(rf"[A-Za-z0-9](?:[ -]?[A-Za-z0-9]){{{length - 1}}}") for length in set(IBAN_LENGTHS.values())
    }

    def scan(self, text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for match in self._start.finditer(text, pos, endpos):
            length = IBAN_LENGTHS.get(match.group()[:2].upper())
            if length is None:
                continue
            start = match.start()
            shape = self._shapes[length].match(text, start, endpos)
            # The character after the IBAN (looked at even past the window) must not continue it.
            if shape is None or (shape.end() < len(text) and text[shape.end()].isalnum()):
                continue
            end = shape.end()
            if iban_valid(text[start:end].replace(" ", "").replace("-", "").upper()):
                yield Finding("IBAN_CODE", start, end, 1.0)


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
