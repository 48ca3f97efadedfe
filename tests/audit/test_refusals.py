"""Requests refused before any tool call leave a ``request/refused`` record, bounded per source."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.audit import AuditWriter
from gateway.audit.digest import ArgumentDigest
from gateway.audit.refusals import PER_SOURCE_BURST, PER_SOURCE_RATE, RefusalLog
from gateway.errors import ParseError, Unauthenticated
from tests.audit.checks import trail_records
from tests.conftest import RunningGateway

BAD_KEY = "cg_not-a-key-of-anyone-0000000000"
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "crm.get_customer", "arguments": {}}}


def refused(gateway: RunningGateway) -> list[dict[str, object]]:
    return [r for r in gateway.audit_records() if r["event"] == "request/refused"]


def test_an_unknown_credential_is_audited_without_the_credential(gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {BAD_KEY}", "X-Request-Id": "stuffing-1"}
    response = httpx.post(f"{gateway.url}/rpc", json=CALL, headers=headers, timeout=10)
    assert response.status_code == 401
    (record,) = refused(gateway)
    assert record["request_id"] == "stuffing-1"
    assert (record["reason"], record["code"], record["http_status"]) == ("auth.unauthenticated", -31401, 401)
    assert (record["source"], record["transport"]) == ("127.0.0.1", "rpc")
    assert record["detail"] == "api_key.unknown"
    assert record["config_version"]
    raw = "".join(segment.read_text() for segment in gateway.audit_dir.glob("*.jsonl"))
    assert BAD_KEY not in raw


def test_a_body_that_is_not_json_is_audited(gateway: RunningGateway) -> None:
    headers = gateway.headers("support-agent", **{"Content-Type": "application/json"})
    response = httpx.post(f"{gateway.url}/mcp", content=b"{not json", headers=headers, timeout=10)
    assert response.status_code == 400
    (record,) = refused(gateway)
    assert (record["reason"], record["transport"]) == ("protocol.parse", "mcp")


def test_a_flood_from_one_source_writes_a_bounded_number_of_records(gateway: RunningGateway) -> None:
    with httpx.Client(timeout=10) as client:
        for _ in range(PER_SOURCE_BURST + 40):
            response = client.post(f"{gateway.url}/rpc", json=CALL, headers={"Authorization": f"Bearer {BAD_KEY}"})
            assert response.status_code == 401
    # The burst, plus what the sustained rate refilled while the flood ran (it runs for well under 10 s).
    assert PER_SOURCE_BURST <= len(refused(gateway)) < PER_SOURCE_BURST + 10 * PER_SOURCE_RATE


async def test_records_left_out_are_counted_on_the_next_one(tmp_path: Path) -> None:
    now = [0.0]
    writer = AuditWriter(tmp_path, durability="write", digest=ArgumentDigest(bytes(32)))
    await writer.start()
    try:
        log = RefusalLog(writer, lambda: "v1", clock=lambda: now[0])
        for _ in range(PER_SOURCE_BURST + 7):
            await log.record(Unauthenticated(), source="10.9.9.9", endpoint="rpc", request_id="r")
        await log.record(ParseError(), source="10.1.1.1", endpoint="rpc", request_id="other")
        now[0] += 1 / PER_SOURCE_RATE
        await log.record(Unauthenticated(), source="10.9.9.9", endpoint="rpc", request_id="after")
    finally:
        await writer.close()
    records = [r for r in trail_records(tmp_path) if r["event"] == "request/refused"]
    flood = [r for r in records if r["source"] == "10.9.9.9"]
    assert len(flood) == PER_SOURCE_BURST + 1
    assert flood[-1]["request_id"] == "after" and flood[-1]["dropped"] == 7
    assert "dropped" not in flood[0]
    assert [r["reason"] for r in records if r["source"] == "10.1.1.1"] == ["protocol.parse"]
