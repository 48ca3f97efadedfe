"""The published record schema and the record type say the same: the same fields, events and required fields."""

from __future__ import annotations

import json
from dataclasses import fields
from importlib.resources import files
from typing import Any

from gateway.audit import EVENTS, AuditRecord
from gateway.audit.events import ALWAYS
from gateway.audit.export.csv import COLUMNS

#: Added by the writer (gateway.audit.chain), which alone knows the order.
CHAIN_FIELDS = {"chain", "seq", "prev", "mac"}


def schema() -> dict[str, Any]:
    return dict(json.loads(files("gateway.audit").joinpath("schema/audit-record.schema.json").read_text()))


def test_the_schema_names_every_field_of_the_record_and_no_other() -> None:
    assert set(schema()["properties"]) == {f.name for f in fields(AuditRecord)} | CHAIN_FIELDS


def test_the_schema_lists_the_events_of_the_one_literal() -> None:
    assert schema()["properties"]["event"]["enum"] == list(EVENTS)
    assert set(ALWAYS) == set(EVENTS)


def test_each_event_requires_exactly_the_fields_it_always_carries() -> None:
    required = {
        entry["if"]["properties"]["event"]["const"]: set(entry["then"]["required"])
        for entry in schema()["allOf"]
        if "const" in entry["if"]["properties"]["event"] and "else" not in entry
    }
    assert required == {event: set(ALWAYS[event]) for event in EVENTS}


def test_csv_has_a_column_for_every_field_but_the_checkpoint() -> None:
    assert set(COLUMNS) == {f.name for f in fields(AuditRecord)} - {"checkpoint"} | {"chain", "seq"}
