"""Build real trails for the audit tests: a real AuditWriter writing real segments."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.audit import AuditRecord, AuditWriter
from gateway.audit.digest import ArgumentDigest
from gateway.auth import Principal

KEY = bytes(range(32))
PRINCIPAL = Principal("support-bot", "acme", ("support-agent",), method="api_key")
DIGEST = ArgumentDigest(bytes(32))


def call_record(n: int, **changes: Any) -> AuditRecord:
    """A ``tools/call`` record like the audit stage writes, numbered ``n`` in its request id."""
    fields: dict[str, Any] = {
        "request_id": f"req-{n}",
        "transport": "rpc",
        "principal": PRINCIPAL,
        "tool": "crm.get_customer",
        "arguments": {"customer_id": "C1001"},
        "args_digest": DIGEST({"customer_id": "C1001"}),
        "decision": "allowed",
        "reason": "ok",
        "code": None,
        "config_version": "0123456789abcdef",
        "latency_us": 800 + n % 100,
        "notes": {"backend_status": 200},
    }
    fields.update(changes)
    return AuditRecord.tool_call(**fields)


def writer(directory: Path, key: bytes | None = KEY, **options: Any) -> AuditWriter:
    options.setdefault("durability", "write")  # the tests' disks need no fsync to stay honest
    return AuditWriter(directory, digest=DIGEST, key=key, **options)


async def write_trail(directory: Path, count: int, key: bytes | None = KEY, **options: Any) -> AuditWriter:
    """One process's chain of ``count`` call records, closed cleanly (final checkpoint)."""
    audit = writer(directory, key, **options)
    await audit.start()
    try:
        for start in range(0, count, 500):
            await asyncio.gather(*(audit.write(call_record(n)) for n in range(start, min(count, start + 500))))
    finally:
        await audit.close()
    return audit


def make_trail(directory: Path, count: int, key: bytes | None = KEY, **options: Any) -> AuditWriter:
    return asyncio.run(write_trail(directory, count, key, **options))
