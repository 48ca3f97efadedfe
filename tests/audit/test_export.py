"""Export: every format carries the same records; OCSF validates against the published schema; hostile values escape."""

from __future__ import annotations

import csv
import io
import json
import re
from functools import cache
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from gateway.audit.export import Filters, export, instant, records
from gateway.audit.export.ocsf import CLASS_UID, OCSF_VERSION
from gateway.auth import Principal
from tests.audit.trail import call_record, make_trail, writer

HOSTILE = 'evil,"bot"\nline2\r|pipe=eq\\back'


@cache
def ocsf_validator() -> Draft202012Validator:
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION))
    name = schema.lookup_class_name_from_uid(class_uid=CLASS_UID)
    return Draft202012Validator(schema.get_class_schema(class_name=name, profiles=[]))


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two chains of ordinary calls, a hostile subject and tool, refusals and a listing."""
    import asyncio

    from gateway.audit import AuditRecord

    directory = tmp_path_factory.mktemp("export")
    make_trail(directory, 300)

    async def odd_ones() -> None:
        audit = writer(directory)
        await audit.start()
        try:
            hostile = Principal(HOSTILE, "acme", (HOSTILE, "support-agent"), method="api_key", on_behalf_of=HOSTILE)
            await audit.write(
                call_record(1, principal=hostile, tool=HOSTILE, decision="refused", reason="policy.denied")
            )
            await audit.write(
                AuditRecord.refused(
                    request_id="r-401",
                    source="127.0.0.1",
                    transport="rpc",
                    reason="auth.unauthenticated",
                    code=-31401,
                    http_status=401,
                    config_version="v",
                    dropped=3,
                )
            )
            await audit.write(
                AuditRecord.tool_list(
                    request_id="r-list",
                    transport="mcp",
                    principal=hostile,
                    decision="allowed",
                    reason="ok",
                    code=None,
                    config_version="v",
                    latency_us=10,
                    tools_listed=4,
                )
            )
        finally:
            await audit.close()

    asyncio.run(odd_ones())
    return directory


def exported(trail: Path, format: str) -> bytes:
    return b"".join(export(trail, format))  # type: ignore[arg-type]


def test_jsonl_holds_every_record_but_checkpoints_oldest_first(trail: Path) -> None:
    lines = [json.loads(line) for line in exported(trail, "jsonl").splitlines()]
    assert len(lines) == 303
    assert all(line["event"] != "audit/checkpoint" for line in lines)
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)


def test_every_format_carries_the_same_records(trail: Path) -> None:
    ids = [record["decision_id"] for record in records(trail)]
    rows = list(csv.DictReader(io.StringIO(exported(trail, "csv").decode(), newline="")))
    ocsf = [json.loads(line) for line in exported(trail, "ocsf").splitlines()]
    cef = [parse_cef(line) for line in exported(trail, "cef").decode().split("\n") if line]
    assert [row["decision_id"] for row in rows] == ids
    assert [event["metadata"]["uid"] for event in ocsf] == ids
    assert [extension["externalId"] for _, extension in cef] == ids
    originals = {record["decision_id"]: record for record in records(trail)}
    for row in rows:
        original = originals[row["decision_id"]]
        assert (row["subject"], row["tool"], row["reason"]) == tuple(
            original.get(name) or "" for name in ("subject", "tool", "reason")
        )
    for header, extension in cef:
        original = originals[extension["externalId"]]
        assert extension.get("suser") == original.get("subject")
        assert extension.get("cs3") == original.get("tool")
        assert header[4] == original["event"]


def test_ocsf_events_validate_against_the_published_schema(trail: Path) -> None:
    validator = ocsf_validator()
    for line in exported(trail, "ocsf").splitlines():
        event = json.loads(line)
        problems = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(event)]
        assert not problems, problems
        assert (event["class_uid"], event["category_uid"]) == (6003, 6)
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]


def test_csv_quotes_hostile_values_and_reads_back_the_same(trail: Path) -> None:
    text = exported(trail, "csv").decode()
    assert text.startswith("time,event,decision_id,")
    assert "\r\n" in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    (row,) = [row for row in rows if row["subject"] == HOSTILE and row["event"] == "tools/call"]
    assert row["tool"] == HOSTILE and row["on_behalf_of"] == HOSTILE
    assert row["roles"] == f"{HOSTILE};support-agent"


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """A strict CEF reader: header split on unescaped pipes, extension on unescaped '=' and the key before it."""
    fields, current, index = [], "", 0
    while len(fields) < 7:
        char = line[index]
        if char == "\\":
            current += line[index + 1]
            index += 2
            continue
        if char == "|":
            fields.append(current)
            current = ""
        else:
            current += char
        index += 1
    extension = line[index:]
    assert "\n" not in extension and "\r" not in extension
    pairs = list(re.finditer(r"(?:^| )([A-Za-z0-9]+)=", extension))
    values: dict[str, str] = {}
    for pair, following in zip(pairs, [*pairs[1:], None], strict=True):
        raw = extension[pair.end() : following.start() if following else len(extension)]
        values[pair.group(1)] = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), raw)
    return fields, values


def test_cef_escapes_hostile_values_and_reads_back_the_same(trail: Path) -> None:
    lines = [line for line in exported(trail, "cef").decode().split("\n") if line]
    hostile = [parse_cef(line) for line in lines if "evil" in line]
    assert len(hostile) == 2
    for header, extension in hostile:
        assert header[:4] == ["CEF:0", "callgate", "callgate", header[3]]
        assert extension["suser"] == HOSTILE
        assert extension["cs4"] == HOSTILE  # on behalf of
    (call,) = [extension for _, extension in hostile if extension.get("cs3")]
    assert call["cs3"] == HOSTILE


def test_filters_select_by_subject_tool_decision_and_time(trail: Path) -> None:
    everything = list(records(trail))
    middle = everything[150]["time"]
    assert all(r["time"] >= middle for r in records(trail, Filters(since=middle)))
    assert all(r["time"] < middle for r in records(trail, Filters(until=middle)))
    assert len(list(records(trail, Filters(since=middle)))) + len(list(records(trail, Filters(until=middle)))) == 303
    assert [r["tool"] for r in records(trail, Filters(subject=HOSTILE))] == [HOSTILE, None]
    assert len(list(records(trail, Filters(decision="refused")))) == 2
    assert len(list(records(trail, Filters(tool="crm.get_customer", tenant="acme")))) == 300
    assert list(records(trail, Filters(tenant="globex"))) == []


def test_times_are_read_in_iso_8601_with_any_offset() -> None:
    assert instant("2026-03-01") == "2026-03-01T00:00:00.000000Z"
    assert instant("2026-03-01T10:00:00+02:00") == "2026-03-01T08:00:00.000000Z"
    assert instant("2026-03-01T10:00:00Z") == "2026-03-01T10:00:00.000000Z"


def test_export_skips_a_torn_tail(tmp_path: Path) -> None:
    make_trail(tmp_path, 5)
    (segment,) = tmp_path.glob("*.jsonl")
    with segment.open("ab") as file:
        file.write(b'{"chain":"half a rec')
    assert len(list(records(tmp_path))) == 5


def test_the_new_fields_map_to_ocsf_cef_and_csv(tmp_path: Path) -> None:
    """Where a call came from, the deciding rule, backend time, redacted arguments, and an export's filters."""
    import asyncio

    from gateway.audit import AuditRecord

    admin = Principal("ops-admin", "acme", ("admin",), method="api_key")
    call = call_record(
        1,
        transport="mcp",
        source="127.0.0.1",
        session_id="sess-1",
        protocol_version="2025-06-18",
        conversation_id="task-42",
        approval_id="apr-7",
        redacted={"customer_id": "C1001", "note": "<EMAIL_ADDRESS>"},
        notes={"backend_status": 200, "backend_us": 640, "attempts": 2, "rule": "policies/policy.csv:48"},
    )
    export_record = AuditRecord.audit_export(
        request_id="r-export",
        source="127.0.0.1",
        principal=admin,
        format="cef",
        filters={"conversation": "task-42"},
        config_version="v",
    )

    async def write() -> None:
        audit = writer(tmp_path)
        await audit.start()
        try:
            for record in (call, export_record):
                await audit.write(record)
        finally:
            await audit.close()

    asyncio.run(write())
    ocsf = [json.loads(line) for line in exported_lines(tmp_path, "ocsf")]
    for event in ocsf:
        assert not list(ocsf_validator().iter_errors(event))
    tool_event, export_event = ocsf
    assert tool_event["metadata"]["correlation_uid"] == "task-42"
    assert tool_event["actor"]["session"] == {"uid": "sess-1"}
    assert tool_event["actor"]["authorizations"] == [
        {"decision": "allowed", "policy": {"uid": "policies/policy.csv:48"}}
    ]
    assert tool_event["api"]["version"] == "2025-06-18"
    assert tool_event["api"]["request"] == {"uid": "req-1", "data": {"customer_id": "C1001", "note": "<EMAIL_ADDRESS>"}}
    assert tool_event["unmapped"]["backend_us"] == 640 and tool_event["unmapped"]["approval_id"] == "apr-7"
    assert "arguments" not in tool_event["unmapped"] and "session_id" not in tool_event["unmapped"]
    assert (export_event["activity_id"], export_event["api"]["request"]["data"]) == (
        2,
        {"format": "cef", "filters": {"conversation": "task-42"}},
    )
    (_, cef), _ = [parse_cef(line) for line in exported_lines(tmp_path, "cef")]
    assert (cef["callgateConversationId"], cef["callgateSessionId"], cef["callgateApprovalId"]) == (
        "task-42",
        "sess-1",
        "apr-7",
    )
    assert (cef["callgateProtocolVersion"], cef["flexNumber1"], cef["flexNumber2"]) == ("2025-06-18", "640", "2")
    row, export_row = csv.DictReader(io.StringIO(exported(tmp_path, "csv").decode(), newline=""))
    assert (row["conversation_id"], row["session_id"], row["protocol_version"]) == ("task-42", "sess-1", "2025-06-18")
    assert json.loads(row["arguments"]) == {"customer_id": "C1001", "note": "<EMAIL_ADDRESS>"}
    assert json.loads(export_row["export"]) == {"format": "cef", "filters": {"conversation": "task-42"}}


def exported_lines(trail: Path, format: str) -> list[str]:
    return [line for line in exported(trail, format).decode().split("\n") if line]
