"""What replaces a value that was found: ``<TYPE>``, a masked value, or a keyed per-tenant pseudonym.

``block`` and ``allow`` replace nothing: the scrubber refuses the call or leaves
the value. The pseudonym of ``hash`` is HMAC-SHA256 under a key derived per
tenant (HMAC(key, tenant)), so one value gets the same pseudonym in every call
of one tenant and different ones across tenants, and nobody without the key can
test a guess against it. Values are normalized first (an email's case, a card's
or phone number's separators), so the spellings of one value share a pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.config.model import PiiAction

#: Hex digits of a pseudonym: 32 bits tell a few thousand values apart within a tenant, and say nothing.
PSEUDONYM_HEX = 8
#: Tenants whose derived key is kept; cleared when full (a key is one HMAC to derive again).
_MAX_TENANT_KEYS = 10_000
#: Characters dropped before hashing numbers, so "4111 1111-1111.1111" and "4111111111111111" are one value.
_SEPARATORS = str.maketrans("", "", " -./()\u00a0")
_NUMBERS = frozenset({"CREDIT_CARD", "PHONE_NUMBER", "US_SSN", "IBAN_CODE"})


class Replacer:
    """Turns one found value into its replacement text, for one configuration."""

    __slots__ = ("_key", "_mask_keep", "_tenant_keys")

    def __init__(self, *, mask_keep: int, key: bytes | None) -> None:
        self._mask_keep = mask_keep
        self._key = key
        self._tenant_keys: dict[str, bytes] = {}

    def replace(self, action: PiiAction, entity: str, value: str, tenant: str) -> str:
        """The text that stands for ``value`` under ``action`` (``redact``, ``mask`` or ``hash``)."""
        if action == "mask":
            return mask(value, self._mask_keep)
        if action == "hash":
            return f"<{entity}:{self.pseudonym(entity, value, tenant)}>"
        return f"<{entity}>"

    def pseudonym(self, entity: str, value: str, tenant: str) -> str:
        key = self._tenant_keys.get(tenant)
        if key is None:
            if self._key is None:  # the loader loads a key whenever an action is hash
                raise RuntimeError("the hash action needs a key, and none was loaded")
            key = hmac.new(self._key, b"callgate-pii-tenant\0" + tenant.encode(), hashlib.sha256).digest()
            if len(self._tenant_keys) >= _MAX_TENANT_KEYS:
                self._tenant_keys.clear()
            self._tenant_keys[tenant] = key
        message = entity.encode() + b"\0" + normalize(entity, value).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def mask(value: str, keep: int) -> str:
    """``value`` with every character but the last ``keep`` replaced by ``*`` (all of it when it is that short)."""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[len(value) - keep :] if keep else "*" * len(value)


def normalize(entity: str, value: str) -> str:
    """One spelling per value: emails case-folded, numbers without separators and upper-cased (IBANs)."""
    if entity == "EMAIL_ADDRESS":
        return value.strip().casefold()
    if entity in _NUMBERS:
        return value.translate(_SEPARATORS).upper()
    return value.strip()
