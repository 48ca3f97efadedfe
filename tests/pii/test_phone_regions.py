"""The compiled region rules answer what phonenumbers' own validity check answers, for every region."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumber, PhoneNumberType

from gateway.pii.phone_regions import RegionRule, region_rules, rules_by_code

TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]


def phonenumbers_says(region: str, national: str) -> bool:
    zeros = len(national) - len(national.lstrip("0"))
    number = PhoneNumber(
        country_code=phonenumbers.country_code_for_region(region),
        national_number=int(national),
        italian_leading_zero=zeros > 0 or None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )
    return bool(phonenumbers.is_valid_number_for_region(number, region))


def samples(region: str, rng: random.Random) -> list[str]:
    """Every type's example number, and near misses of each: a digit changed, dropped, added; random digits."""
    found = []
    for kind in TYPES:
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            found.append(phonenumbers.national_significant_number(example))
    near = []
    for national in found:
        near.append(national[:-1] + str((int(national[-1]) + 1) % 10))
        near.append(national[:-1])
        near.append(national + "5")
        near.append(str(rng.randint(1, 9)) + national[1:])
    near += ["".join(rng.choice("0123456789") for _ in range(rng.randint(4, 15))) for _ in range(12)]
    return [n for n in found + near if len(n) >= 2 and int(n) > 0]


@pytest.mark.parametrize("region", sorted(region_rules()))
def test_a_region_rule_answers_as_phonenumbers_does(region: str) -> None:
    rule = region_rules()[region]
    rng = random.Random(region)
    for national in samples(region, rng):
        assert rule.valid_national(national) == phonenumbers_says(region, national), (region, national)


def test_every_geographic_region_has_a_rule_and_codes_list_their_regions() -> None:
    assert {"US", "GB", "DE", "JP", "BR", "IN"} <= region_rules().keys()
    assert [rule.region for rule in rules_by_code()[44]] == ["GB", "GG", "IM", "JE"]
    assert rules_by_code()[800] == ()  # a non-geographic code: no national format


def test_a_national_number_may_carry_its_trunk_prefix() -> None:
    gb = region_rules()["GB"]
    assert gb.valid("02079460958") and gb.valid("2079460958")
    assert not gb.valid("02079460958", international=True)


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown phone region"):
        RegionRule("XX")
