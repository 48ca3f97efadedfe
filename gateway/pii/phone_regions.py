"""Whether a string of digits is a valid phone number of a region, from phonenumbers' metadata, compiled once.

``phonenumbers.is_valid_number_for_region`` costs 12-16 µs per number here: it looks up the region's
metadata, rebuilds the national number as text and compiles (through a cache) one ``^(?:...)$``
expression per number type on every call. The detector asks it for every phone candidate of every
call, about 5 % of a request for two numbers. :class:`RegionRule` asks the same question of the same
metadata (the region's general pattern and possible lengths, then each number type's, in
phonenumbers' order) with the expressions compiled when the rule is built: 1-2 µs.
``tests/pii/test_phone_regions.py`` holds it equal to phonenumbers over every region's example
numbers and many near misses.

The rules depend on phonenumbers' bundled metadata only (never on configuration or scanned text),
so :func:`region_rules` builds them once per process and every Detector shares them, read-only.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberDesc

#: Number types whose match makes a number valid, in ``phonenumbers._number_type_helper``'s order.
_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def _desc(desc: PhoneNumberDesc | None) -> tuple[frozenset[int], re.Pattern[str]] | None:
    """A number description's possible lengths and compiled pattern; None when it can match nothing."""
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)


class RegionRule:
    """One region's national number rules: a cheap shape test, then the full validity check."""

    __slots__ = ("_descs", "_general_lengths", "_national", "_prefix", "region", "trunk")

    def __init__(self, region: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.general_desc is None:
            raise ValueError(f"unknown phone region {region!r}")
        self.region = region
        #: The national trunk prefix people dial inside the country ("0" in most of Europe), if any.
        self.trunk: str = metadata.national_prefix or ""
        self._prefix = re.compile(metadata.national_prefix_for_parsing or metadata.national_prefix or "(?!)")
        self._national = re.compile(metadata.general_desc.national_number_pattern or "(?!)")
        # Both are the general description's: its pattern (compiled above) and its possible lengths.
        self._general_lengths = frozenset(metadata.general_desc.possible_length or ())
        descs = [_desc(getattr(metadata, name)) for name in _TYPES]
        descs.append(_desc(metadata.fixed_line))
        if not metadata.same_mobile_and_fixed_line_pattern:  # phonenumbers tries mobile only when they differ
            descs.append(_desc(metadata.mobile))
        self._descs = tuple(desc for desc in descs if desc is not None)

    def valid(self, digits: str, *, international: bool = False) -> bool:
        """``digits`` (as written nationally, trunk prefix included or not) are a valid number of this region.

        After a country code (``international``) the digits are the national number as they stand;
        written nationally they may also start with the trunk prefix, which is taken off when the rest
        has the region's shape.
        """
        national = digits
        if not self._national.fullmatch(national):
            if international:
                return False
            prefix = self._prefix.match(digits)
            if prefix is None or not self._national.fullmatch(digits[prefix.end() :]):
                return False
            national = digits[prefix.end() :]
        return self._types_match(national)

    def valid_national(self, national: str) -> bool:
        """What ``is_valid_number_for_region`` answers for this national significant number (digits only)."""
        return self._national.fullmatch(national) is not None and self._types_match(national)

    def _types_match(self, national: str) -> bool:
        """The general description's lengths and one number type's, for digits of the general pattern."""
        lengths = self._general_lengths
        if lengths and len(national) not in lengths:
            return False
        return any(_matches(national, lengths, pattern) for lengths, pattern in self._descs)


def _matches(national: str, lengths: frozenset[int], pattern: re.Pattern[str]) -> bool:
    # As phonenumbers' _is_number_matching_desc: no possible lengths listed means the general ones apply.
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


@cache
def region_rules() -> dict[str, RegionRule]:
    """The rule of every geographic region phonenumbers knows, built on first use (about 0.2 s)."""
    return {
        region: RegionRule(region)
        for regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.values()
        for region in regions
        if region != "001"  # non-geographic entities (satellite, UIFN) have no national format
    }


@cache
def rules_by_code() -> dict[int, tuple[RegionRule, ...]]:
    """The rules of every region sharing each country calling code, main region first (as phonenumbers lists)."""
    rules = region_rules()
    return {
        code: tuple(rules[region] for region in regions if region != "001")
        for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
    }
