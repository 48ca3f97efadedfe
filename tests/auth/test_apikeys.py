"""API-key authentication: hashed keys only, either header, and no guessing."""

from __future__ import annotations

import pytest

from gateway.auth import ApiKeyAuthenticator, hash_key
from gateway.config import ApiKeyEntry
from gateway.errors import Unauthenticated

KEY = "cg_test_key_0123456789"
AUTH = ApiKeyAuthenticator([ApiKeyEntry(hash_key(KEY), "bot", "acme", ("support-agent",))])


def test_bearer_and_x_api_key_headers_both_authenticate() -> None:
    for headers in ({"authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"}, {"x-api-key": KEY}):
        principal = AUTH.authenticate(headers)
        assert (principal.subject, principal.tenant, principal.roles) == ("bot", "acme", ("support-agent",))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer "},
        {"authorization": f"Basic {KEY}"},
        {"authorization": f"Bearer {KEY}x"},
        {"authorization": f"Bearer {hash_key(KEY)}"},
        {"x-api-key": "k" * 10_000},
        {"x-api-key": "clé-non-ascii"},
    ],
    ids=["none", "empty", "basic-scheme", "near-miss", "the-hash-itself", "oversized", "non-ascii"],
)
def test_anything_but_a_configured_key_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated):
        AUTH.authenticate(headers)
