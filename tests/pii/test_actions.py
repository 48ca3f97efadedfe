"""The replacement text of each action: redact, mask, and the keyed per-tenant pseudonyms of hash."""

from __future__ import annotations

import re

import pytest

from gateway.pii.actions import Replacer, mask

KEY = bytes(range(32))


def test_redact_puts_the_entity_type_in_place_of_the_value() -> None:
    assert Replacer(mask_keep=4, key=None).replace("redact", "EMAIL_ADDRESS", "ada@example.com", "acme") == (
        "<EMAIL_ADDRESS>"
    )


@pytest.mark.parametrize(
    ("value", "keep", "masked"),
    [
        ("4111111111111111", 4, "************1111"),
        ("4111 1111 1111 1111", 4, "***************1111"),
        ("ada@example.com", 0, "***************"),
        ("12", 4, "**"),
    ],
)
def test_mask_keeps_only_the_last_characters(value: str, keep: int, masked: str) -> None:
    assert mask(value, keep) == masked
    assert Replacer(mask_keep=keep, key=None).replace("mask", "CREDIT_CARD", value, "acme") == masked


def test_hash_is_a_stable_pseudonym_within_a_tenant() -> None:
    replacer = Replacer(mask_keep=4, key=KEY)
    first = replacer.replace("hash", "EMAIL_ADDRESS", "ada@example.com", "acme")
    assert re.fullmatch(r"<EMAIL_ADDRESS:[0-9a-f]{8}>", first)
    assert Replacer(mask_keep=4, key=KEY).replace("hash", "EMAIL_ADDRESS", "ada@example.com", "acme") == first
    assert replacer.replace("hash", "EMAIL_ADDRESS", "grace@example.com", "acme") != first


def test_hash_differs_across_tenants_and_keys() -> None:
    replacer = Replacer(mask_keep=4, key=KEY)
    acme = replacer.replace("hash", "EMAIL_ADDRESS", "ada@example.com", "acme")
    assert replacer.replace("hash", "EMAIL_ADDRESS", "ada@example.com", "globex") != acme
    other_key = Replacer(mask_keep=4, key=bytes(32))
    assert other_key.replace("hash", "EMAIL_ADDRESS", "ada@example.com", "acme") != acme


def test_hash_gives_the_spellings_of_one_value_one_pseudonym() -> None:
    replacer = Replacer(mask_keep=4, key=KEY)
    card = replacer.replace("hash", "CREDIT_CARD", "4111 1111-1111 1111", "acme")
    assert replacer.replace("hash", "CREDIT_CARD", "4111111111111111", "acme") == card
    email = replacer.replace("hash", "EMAIL_ADDRESS", "Ada@Example.com", "acme")
    assert replacer.replace("hash", "EMAIL_ADDRESS", "ada@example.com", "acme") == email


def test_hash_without_a_key_fails_loudly() -> None:
    with pytest.raises(RuntimeError):
        Replacer(mask_keep=4, key=None).replace("hash", "EMAIL_ADDRESS", "ada@example.com", "acme")
