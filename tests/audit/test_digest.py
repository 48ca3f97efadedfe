"""The argument digest on audit records is keyed: stable within a deployment, useless to a guessing table."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from pathlib import Path

import pytest

from gateway.audit.digest import DIGEST_KEY_FILE, DIGEST_KEY_VARIABLE, ArgumentDigest
from gateway.jsoncodec import dumps_canonical
from gateway.keyfiles import KeyProblem, load_key
from tests.conftest import GatewayFactory

REFUND = {"customer_id": "C1001", "amount": 600, "currency": "EUR"}


def refund(gateway_url: str, key: str) -> None:
    import httpx

    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "billing.issue_refund", "arguments": REFUND},
    }
    response = httpx.post(f"{gateway_url}/rpc", json=message, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert response.status_code == 200


def test_a_guessing_table_of_plain_hashes_does_not_find_the_arguments(start_gateway: GatewayFactory) -> None:
    """The attack: hash every likely argument set and look the digest up. It must find nothing."""
    gateway = start_gateway()
    refund(gateway.url, gateway.keys["finance-agent"])
    (record,) = [r for r in gateway.audit_records() if r.get("tool") == "billing.issue_refund"]
    table = {
        "sha256:" + hashlib.sha256(dumps_canonical(guess)).hexdigest()
        for guess in (
            {"customer_id": f"C{n}", "amount": amount, "currency": currency}
            for n in range(1000, 1010)
            for amount in (500, 600)
            for currency in ("EUR", "USD")
        )
    }
    assert table.isdisjoint({record["args_digest"], record["args_digest"].split(":", 1)[1]})
    key = load_key({}, DIGEST_KEY_VARIABLE, gateway.audit_dir / DIGEST_KEY_FILE)
    expected = hmac.new(key, dumps_canonical(REFUND), hashlib.sha256).hexdigest()
    assert record["args_digest"] == f"hmac-sha256:{expected}"


def test_the_trail_key_file_is_private_and_digests_survive_a_restart(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    first = start_gateway(CALLGATE_AUDIT_DIR=str(tmp_path))
    refund(first.url, first.keys["finance-agent"])
    second = start_gateway(CALLGATE_AUDIT_DIR=str(tmp_path))
    refund(second.url, second.keys["finance-agent"])
    mode = stat.S_IMODE((tmp_path / DIGEST_KEY_FILE).stat().st_mode)
    assert mode == 0o600
    lines = [json.loads(line) for segment in tmp_path.glob("*.jsonl") for line in segment.read_text().splitlines()]
    digests = {r["args_digest"] for r in lines if r.get("tool") == "billing.issue_refund"}
    assert len([r for r in lines if r.get("tool") == "billing.issue_refund"]) == 2
    assert len(digests) == 1, "equal arguments must correlate within one deployment"


def test_the_environment_key_wins_and_is_shared_by_replicas(start_gateway: GatewayFactory) -> None:
    key = bytes(range(32))
    env = {DIGEST_KEY_VARIABLE: key.hex()}
    replicas = [start_gateway(**env), start_gateway(**env)]
    digests = set()
    for replica in replicas:
        refund(replica.url, replica.keys["finance-agent"])
        digests |= {r["args_digest"] for r in replica.audit_records() if r.get("tool") == "billing.issue_refund"}
        assert not (replica.audit_dir / DIGEST_KEY_FILE).exists()
    assert digests == {"hmac-sha256:" + hmac.new(key, dumps_canonical(REFUND), hashlib.sha256).hexdigest()}


def test_keys_differ_between_trails_without_a_configured_key(tmp_path: Path) -> None:
    one, two = (ArgumentDigest.for_trail(tmp_path / name, {}) for name in ("a", "b"))
    assert one(REFUND) != two(REFUND)
    assert one(REFUND) == ArgumentDigest.for_trail(tmp_path / "a", {})(REFUND)


@pytest.mark.parametrize("value", ["tooshort", "00" * 16, "not base64 !!"])
def test_a_weak_or_garbled_key_is_refused_without_showing_it(value: str, tmp_path: Path) -> None:
    with pytest.raises(KeyProblem) as raised:
        load_key({DIGEST_KEY_VARIABLE: value}, DIGEST_KEY_VARIABLE, tmp_path / "k")
    assert value not in str(raised.value)
    assert DIGEST_KEY_VARIABLE in str(raised.value)
