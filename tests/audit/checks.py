"""Checks every trail the suite writes must pass: each record matches the published schema, the chain verifies."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from gateway.audit.segments import chains
from gateway.audit.verify import verify


@cache
def record_validator() -> Draft202012Validator:
    schema = json.loads(files("gateway.audit").joinpath("schema/audit-record.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def trail_records(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for segments in chains(directory).values()
        for segment in segments
        for line in segment.path.read_text(encoding="utf-8").splitlines()
        if line
    ]


def schema_problems(records: list[dict[str, Any]]) -> list[str]:
    validator = record_validator()
    return [
        f"{record.get('event')} seq {record.get('seq')}: {error.message} at {error.json_path}"
        for record in records
        for error in validator.iter_errors(record)
    ]


def check_trail(directory: Path, key: bytes | None = None) -> None:
    """Fail when a record of ``directory`` breaks the schema or its chain does not verify."""
    problems = schema_problems(trail_records(directory))
    assert not problems, "audit records that break the published schema:\n" + "\n".join(problems[:20])
    report = verify(directory, key)
    allowed = {"intact"} if key is not None else {"intact", "unproven"}
    assert report.status in allowed, "\n".join(str(finding) for finding in report.findings)
