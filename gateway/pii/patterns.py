"""Checksums and number rules the built-in recognizers validate candidates with.

Pure functions over the digits or characters of one candidate, no regular expressions over text: the
recognizers (``recognizers.py``) find the candidates, these decide whether a candidate can be real.
"""

from __future__ import annotations

#: IBAN length by country (SWIFT IBAN registry, plus the long-standing national IBANs outside it).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number carries in its last digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_issuer(digits: str) -> str | None:
    """The issuer whose IIN range and length ``digits`` fits, or None.

    Presidio's card pattern knows only the 4/5[0-5]/6/3/1 prefixes and at most 17 digits: it misses
    Mastercard's 2-series (2221-2720) and the 18- and 19-digit Visa, UnionPay, Discover, JCB and
    Maestro numbers. This table covers the major issuers' published ranges.
    """
    length = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    first = digits[0]
    if first == "4":
        return "visa" if length in (13, 16, 19) else None
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard" if length == 16 else None
    if two in (34, 37):
        return "amex" if length == 15 else None
    if two == 35:  # JCB's own range is 3528-3589; Faker and older references use all of 35
        return "jcb" if 16 <= length <= 19 else None
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39):
        return "diners" if 14 <= length <= 19 else None
    if four == 6011 or 644 <= int(digits[:3]) <= 649 or two == 65 or 622126 <= six <= 622925:
        return "discover" if 16 <= length <= 19 else None
    if two == 62:
        return "unionpay" if 16 <= length <= 19 else None
    if two == 50 or 56 <= two <= 69 or four == 604:  # 0604: old UK Maestro
        return "maestro" if 12 <= length <= 19 else None
    return None


def card_prefix(digits: str) -> bool:
    """Whether a card number may start with the first four of ``digits``: False means no length makes it one.

    :func:`card_issuer` knows no range starting with 1, 7, 8 or 9, and none starting with 0 but old UK
    Maestro's 0604; this lets the card recognizer drop a group of digits at its first four.
    """
    first = digits[0]
    if first in "1789":
        return False
    return first != "0" or int(digits[:4]) == 604


#: Each letter's value in an IBAN's check (A = 10 ... Z = 35); digits stand for themselves.
_IBAN_VALUES = {ord(letter): str(ord(letter) - 55) for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def iban_valid(compact: str) -> bool:
    """``compact`` (upper case, no separators) has its country's length and passes ISO 7064 mod 97-10."""
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is None or len(compact) != expected or not compact[2:4].isdigit():
        return False
    if not compact.isalnum() or not compact.isascii():
        return False
    rearranged = (compact[4:] + compact[:4]).upper()
    # Letters count as 10..35; int() of the digit string is exact for any length.
    return int(rearranged.translate(_IBAN_VALUES)) % 97 == 1


#: Canonical sample SSNs printed in advertising and documentation (Presidio's list).
_SAMPLE_SSNS = frozenset({"123456789", "987654320", "078051120", "219099999"})


def ssn_valid(digits: str) -> bool:
    """Nine digits the SSA can have issued: area 001-899 but not 666, group 01-99, serial 0001-9999.

    Presidio rejects areas 000 and 666 only; areas 900-999 are ITINs and never SSNs.
    """
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return len(set(digits)) > 1 and digits not in _SAMPLE_SSNS
