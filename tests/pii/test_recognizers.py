"""The six core types in the formats people write them, and the look-alikes that must not be flagged."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from gateway.pii.detector import CORE_ENTITIES, Detector
from gateway.pii.patterns import card_issuer, card_prefix
from gateway.pii.recognizers import _ipv4_valid


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(CORE_ENTITIES)


def found(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in detector.find(text)]


CARDS = [
    "4111 1111 1111 1111",  # Visa, grouped
    "4111111111111111",  # Visa, ungrouped
    "4222222222222",  # Visa 13
    "4000000000000000006",  # Visa 19
    "5555-5555-5555-4444",  # Mastercard
    "2223 0031 2200 3222",  # Mastercard 2-series
    "3782 822463 10005",  # Amex 4-6-5
    "371449635398431",  # Amex ungrouped
    "6011 1111 1111 1117",  # Discover
    "3530111333300000",  # JCB
    "3056 930902 5904",  # Diners 14
    "6250 9410 0652 8599",  # UnionPay
    "6759649826438453",  # Maestro
]


@pytest.mark.parametrize("card", CARDS)
def test_card_numbers_of_every_major_issuer_are_found(detector: Detector, card: str) -> None:
    assert found(detector, f"Customer read out {card} on the call.") == [("CREDIT_CARD", card)]


@pytest.mark.parametrize("number", ["4111 1111 1111 1112", "5555555555554445", "3782 822463 10006"])
def test_luhn_invalid_numbers_are_not_cards(detector: Detector, number: str) -> None:
    assert ("CREDIT_CARD", number) not in found(detector, f"Order {number} shipped.")


PHONES = [
    "+14155552671",  # E.164
    "+1 (415) 555-2671",
    "(415) 555-2671",
    "415.555.2671",
    "+44 20 7946 0958",
    "+44 (0)20 7946 0958",
    "020 7946 0958",
    "030/901820",  # Germany
    "+49-30-901820",
    "01 42 68 53 00",  # France
    "01.42.68.53.00",
    "+33 6 12 34 56 78",
    "(02) 9374 4000",  # Australia
    "03-1234-5678",  # Japan
    "0044 7700 900123",
    "+91 98765 43210",
    "+39 06 1234 5678",  # Italy keeps its leading zero
]


@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_in_national_and_international_formats_are_found(detector: Detector, phone: str) -> None:
    assert found(detector, f"Vendor note: {phone}, accounts payable.") == [("PHONE_NUMBER", phone)]


def test_a_weak_national_number_needs_a_context_word(detector: Detector) -> None:
    assert found(detector, "Madrid mobile 612 345 678") == [("PHONE_NUMBER", "612 345 678")]
    assert found(detector, "Pallet count 612 345 678") == []


IBANS = [
    "DE89 3704 0044 0532 0130 00",
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300",
    "BE68539007547034",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "CH9300762011623852957",
    "AT611904300234573201",
    "PL61109010140000071219812874",
    "NO9386011117947",
    "SA0380000000608010167519",
    "de89 3704 0044 0532 0130 00",
]


@pytest.mark.parametrize("iban", IBANS)
def test_ibans_of_many_countries_with_and_without_spaces_are_found(detector: Detector, iban: str) -> None:
    assert found(detector, f"Please wire the refund to {iban} today.") == [("IBAN_CODE", iban)]


@pytest.mark.parametrize("iban", ["DE88 3704 0044 0532 0130 00", "GB82WEST12345698765431", "XX89370400440532013000"])
def test_ibans_with_a_bad_checksum_or_country_are_not_flagged(detector: Detector, iban: str) -> None:
    assert "IBAN_CODE" not in [entity for entity, _ in found(detector, f"IBAN {iban}")]


@pytest.mark.parametrize(
    "ip",
    ["192.168.1.10", "203.0.113.7", "10.0.0.0/8", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8::8a2e:370:7334",
     "fe80::1", "::1"],
)  # fmt: skip
def test_ipv4_and_ipv6_full_and_compressed_are_found(detector: Detector, ip: str) -> None:
    assert found(detector, f"Login attempts from {ip} were blocked.") == [("IP_ADDRESS", ip)]


@pytest.mark.parametrize("text", ["version 10.2.0.1", "OID 1.3.6.1.4.1.311", "at 12:30:45", "MAC 00:1A:2B:3C:4D:5E"])
def test_version_strings_oids_times_and_macs_are_not_ip_addresses(detector: Detector, text: str) -> None:
    assert found(detector, text) == []


@pytest.mark.parametrize("ssn", ["536-22-1234", "536 22 1234"])
def test_ssns_are_found(detector: Detector, ssn: str) -> None:
    assert found(detector, f"Employee SSN {ssn} on the W-2.") == [("US_SSN", ssn)]


def test_an_undelimited_ssn_needs_a_context_word(detector: Detector) -> None:
    assert found(detector, "SSN: 536221234 on file") == [("US_SSN", "536221234")]
    assert found(detector, "Part 536221234 on file") == []


@pytest.mark.parametrize(
    "ssn", ["000-12-3456", "666-12-3456", "912-34-5678", "536-00-1234", "536-22-0000", "123-45-6789"]
)
def test_ssns_the_ssa_never_issues_are_not_flagged(detector: Detector, ssn: str) -> None:
    assert found(detector, f"SSN {ssn}") == []


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.co.uk", "Ops-Team+alerts@sub.example.org", "JOHN.SMITH@EXAMPLE.COM", "a.b@c-d.example.de"],
)
def test_email_addresses_are_found(detector: Detector, email: str) -> None:
    assert found(detector, f"Mail ({email}) bounced.") == [("EMAIL_ADDRESS", email)]


def test_an_email_on_a_domain_without_a_public_suffix_is_not_flagged(detector: Detector) -> None:
    assert found(detector, "ping admin@localhost.invalidtld") == []


CLEAN = [
    "Order ORD-2024-118273 shipped on 17/05/2024 and arrives by 21.05.2024.",
    "Invoice INV-00123 for $12,345.67 is due on 2024-06-30.",
    "We upgraded to version 3.11.4 and build 10.0.19045.3803.",
    "SKU AB12-XL-BLU is back in stock; tracking 1Z999AA10123456784.",
    "The meeting moved to 14:30 on 2024-05-17; room 4.12.",
    "Ship to 10115 Berlin, or SW1A 1AA London, or 94105-1234.",
    "Totals: 1,234,567 units, 2.345.678 EUR.",
    "ISBN 978-3-16-148410-0; UUID 123e4567-e89b-12d3-a456-426614174000.",
    "Reference REF 4285 8058 was paid; ticket #5546941 closed.",
]


@pytest.mark.parametrize("text", CLEAN)
def test_business_text_with_near_misses_is_not_flagged(detector: Detector, text: str) -> None:
    assert found(detector, text) == []


def test_findings_are_sorted_and_do_not_overlap(detector: Detector) -> None:
    text = "Card 4111 1111 1111 1111 from 203.0.113.7, mail jane@example.com, IBAN DE89370400440532013000."
    findings = detector.find(text)
    assert [f.entity for f in findings] == ["CREDIT_CARD", "IP_ADDRESS", "EMAIL_ADDRESS", "IBAN_CODE"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))


def test_find_can_be_limited_to_some_configured_types(detector: Detector) -> None:
    text = "jane@example.com from 203.0.113.7"
    assert [f.entity for f in detector.find(text, ["IP_ADDRESS"])] == ["IP_ADDRESS"]
    with pytest.raises(ValueError, match="not configured"):
        detector.find(text, ["PERSON"])


def test_the_dotted_quad_check_answers_as_ipaddress_does() -> None:
    """What the IPv4 pattern can match: octets 0-255 with or without leading zeros, prefixes 0-32."""
    octets = ["0", "00", "7", "07", "10", "010", "99", "199", "255", "025"]
    prefixes = ["", "/0", "/8", "/08", "/24", "/32", "/\u0663", "/2\u0663"]  # U+0663: an Arabic-Indic three
    for a, b, prefix in itertools.product(octets, octets, prefixes):
        value = f"{a}.1.{b}.4{prefix}"
        try:
            ipaddress.ip_interface(value)
            expected = True
        except ValueError:
            expected = False
        assert _ipv4_valid(value) == expected, value


def test_a_card_prefix_is_dropped_only_when_no_issuer_range_starts_with_it() -> None:
    for prefix in (f"{n:04d}" for n in range(10_000)):
        possible = any(card_issuer(prefix + "0" * (length - 4)) for length in range(12, 20))
        possible = possible or any(card_issuer(prefix + "9" * (length - 4)) for length in range(12, 20))
        if possible:
            assert card_prefix(prefix), prefix
    assert not card_prefix("0044") and not card_prefix("1234") and card_prefix("0604") and card_prefix("4111")
