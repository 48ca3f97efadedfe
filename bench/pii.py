"""G_pii's workload: a support ticket of about 1 KB in, about 2 KB out, with a few entities each way.

The tool ``support.open_ticket`` (added to the benchmark's copy of the configuration only) posts the
ticket to the demo backends, which answer with the ticket and the customer's earlier messages. It goes
through the whole pipeline, the shipped PII rules included: the email, phone and IP address in the
arguments are redacted before the backend sees them; the IBAN, email, phone and IP address in the
history on the way back. The same workload is measured in process for the stage table.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from bench.configs import unlimited_copy
from bench.load import HttpRequest
from gateway.auth import Principal
from gateway.config import load_config
from gateway.demo.backends import TICKET_HISTORY
from gateway.pii.build import build_pii
from gateway.pipeline import ToolCall, ToolResult, compose
from gateway.stages import Scrub

TOOL = "support.open_ticket"
TICKET: dict[str, Any] = {
    "customer_id": "C1002",
    "subject": "Double charge on the October invoice",
    "body": (
        "Customer called about a double charge on the October invoice. She asked for the refund to go to the "
        "account on file and for a confirmation at grace.hopper@example.org, or by phone on +1 415 555 0132 in "
        "the afternoon. She mentioned that she has been a customer since 2019 and that this is the first time "
        "anything like this has happened. Both charges were made on the same day, a few minutes apart, which "
        "looks like the payment page was submitted twice. Her last login came from 203.0.113.77. Please check "
        "whether the second charge was captured or only authorised, refund it if captured, and add a note to "
        "the account so that the next invoice is reviewed before it is sent. She would also like to know "
        "whether the team plan she is on includes the new reporting features, and if not, what an upgrade "
        "would cost for the remaining months of her contract. Priority: normal. Channel: phone. Agent notes: "
        "the customer was friendly and patient; no escalation needed at this point."
    ),
}
_SPEC: dict[str, Any] = {
    "name": TOOL,
    "description": "Open a support ticket for a customer (benchmark tool: about 1 KB in, 2 KB out).",
    "input_schema": {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string", "pattern": "^C[0-9]{4}$", "x-pii": "none"},
            "subject": {"type": "string", "maxLength": 200},
            "body": {"type": "string", "maxLength": 4000},
        },
        "required": ["customer_id", "subject", "body"],
        "additionalProperties": False,
    },
    "backend": {
        "type": "http",
        "method": "POST",
        "url": "${CALLGATE_DEMO_BACKEND_URL:-http://127.0.0.1:8701}/support/tickets",
    },
}
MARKER = b'"isError":false'


def pii_copy(repo_root: Path, dest: Path) -> Path:
    """The benchmark's unlimited configuration with the ticket tool, which support agents may call."""
    unlimited_copy(repo_root, dest)
    (dest / "tool_specs" / f"{TOOL}.yaml").write_text(yaml.safe_dump(_SPEC, sort_keys=False))
    with (dest / "policies" / "policy.csv").open("a") as policy:
        policy.write(f"\np, support-agent, acme, {TOOL}, call, allow\n")
    return dest


def request(url: str, key: str) -> HttpRequest:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": TOOL, "arguments": TICKET}}
    body = json.dumps(message, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    return HttpRequest("POST", url, headers, body)


def check_ticket(status: int, body: bytes) -> str | None:
    """A ticket result whose personal data was scrubbed both ways: nothing of it reaches the agent as sent."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    try:
        result = json.loads(body).get("result")
    except ValueError:
        return f"body is not JSON: {body[:300]!r}"
    if not isinstance(result, dict) or result.get("isError") is not False:
        return f"not a successful tool result: {body[:300]!r}"
    structured = result.get("structuredContent") or {}
    text = json.dumps(structured)
    if "grace.hopper@example.org" in text or "DE89" in text or "<EMAIL_ADDRESS>" not in text:
        return f"personal data not scrubbed: {body[:300]!r}"
    if "<IBAN_CODE>" not in text or structured.get("ticket", {}).get("customer_id") != "C1002":
        return f"not the scrubbed ticket: {body[:300]!r}"
    return None


async def scrub_rows(
    repo_root: Path, directory: Path, async_us: Callable[[Callable[[], Awaitable[object]]], Awaitable[float]]
) -> list[tuple[str, str, float]]:
    """The scrub stage's own cost per call, beyond a bare await of a backend that answers at once."""
    config = load_config(pii_copy(repo_root, directory / "pii-config"), env={})
    stage = Scrub(build_pii(config), config.gateway.pii.max_text_chars)
    customer = {"id": "C1001", "name": "Ada Lovelace", "email": "ada@example.com", "plan": "enterprise"}
    customer_result = ToolResult.from_value(customer)
    rows = []
    cases = [
        (TOOL, "support-agent", TICKET, None, "G_pii's ticket: ~1 KB in, ~2 KB out, 3 + 4 entities"),
        ("crm.get_customer", "support-agent", {"customer_id": "C1001"}, customer_result, "G's customer record"),
        (
            "crm.get_customer",
            "sales-agent",
            {"customer_id": "C1001"},
            customer_result,
            "G's customer record for sales (its email redacted)",
        ),
    ]
    for tool_name, role, arguments, result, label in cases:
        principal = Principal(subject="bench", tenant="acme", roles=(role,), method="api_key")
        call = ToolCall(
            request_id="bench", principal=principal, tool_name=tool_name, arguments=arguments, transport="rpc"
        )

        async def backend(call: ToolCall, result: ToolResult | None = result) -> ToolResult:
            if result is not None:
                return result
            # As the demo backend does: the ticket as received, and the customer's earlier messages.
            return ToolResult.from_value({"id": "T1", "ticket": call.arguments, "history": TICKET_HISTORY})

        bare = await async_us(partial(backend, call))
        handler = compose([stage], backend)
        scrubbed = await async_us(partial(handler, call))
        rows.append(("scrub", f"{label}, beyond a bare await", scrubbed - bare))
    return rows


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.pii``: the scrub stage's rows alone, several runs, each row's median and range."""
    import argparse
    import statistics
    import tempfile

    import uvloop

    from bench.stages import async_us  # here, not at the top: bench.stages imports this module

    parser = argparse.ArgumentParser(description="The scrub stage's cost per call (the stage table's rows).")
    parser.add_argument("--runs", type=int, default=5, help="runs of every row (default 5)")
    parser.add_argument("--config-dir", type=Path, default=Path(__file__).resolve().parent.parent)
    options = parser.parse_args(argv)

    async def measure() -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {}
        for _ in range(options.runs):
            with tempfile.TemporaryDirectory(prefix="callgate-bench-pii-") as tmp:
                for _, measured, us in await scrub_rows(options.config_dir, Path(tmp), async_us):
                    samples.setdefault(measured, []).append(us)
        return samples

    print("| scrub: what is measured | µs per call, median | range |")
    print("| --- | ---: | --- |")
    for measured, values in uvloop.run(measure()).items():
        print(f"| {measured} | {statistics.median(values):,.1f} | {min(values):,.0f}-{max(values):,.0f} |")


if __name__ == "__main__":
    main()
