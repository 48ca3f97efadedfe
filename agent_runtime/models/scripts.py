"""The scripts the scripted model ships with, written for the demo company's tools and policy.

Each is the same data a ``.yaml`` script file holds (format: scripted.py). Run
one with ``callgate agent run --model scripted:NAME --key-env VAR "task"``; the
role named in its description is the key it expects.
"""

from __future__ import annotations

from typing import Any

BUILTIN_SCRIPTS: dict[str, dict[str, Any]] = {
    "support-lookup": {
        "name": "support-lookup",
        "description": "support-agent: looks a customer up, then searches the refund policy (two tools).",
        "steps": [
            {"id": "lookup", "call": "crm.get_customer", "arguments": {"customer_id": "C1001"}},
            {"id": "policy", "call": "docs.search", "arguments": {"query": "refund policy", "limit": 1}},
            {
                "id": "done",
                "answer": "{lookup.result.name} is on the {lookup.result.plan} plan. Refund policy: {policy.text}",
            },
        ],
    },
    "support-refund": {
        "name": "support-refund",
        "description": "support-agent: tries to refund, is refused by policy, and hands the case to finance instead.",
        "steps": [
            {
                "id": "refund",
                "say": "Issuing the refund.",
                "call": "billing.issue_refund",
                "arguments": {"customer_id": "C1001", "amount": 50, "currency": "EUR"},
                "on": [{"if": {"reason": "policy.denied"}, "goto": "read-policy"}],
                "next": "refunded",
            },
            {"id": "refunded", "answer": "Refund {refund.result.refund_id} issued."},
            {"id": "read-policy", "call": "docs.search", "arguments": {"query": "refund policy", "limit": 1}},
            {
                "id": "handoff",
                "answer": "I may not issue refunds, so I handed the case to finance. What the policy says: {last.text}",
            },
        ],
    },
    "sales-meeting": {
        "name": "sales-meeting",
        "description": "sales-agent: books a meeting, corrects the start time the schema refuses, checks the day.",
        "steps": [
            {
                "id": "book",
                "call": "calendar.create_event",
                "arguments": {"title": "Renewal call", "start": "next Tuesday 10:00", "duration_min": 30},
                "on": [
                    {"if": {"outcome": "schema_error", "path": "$.start"}, "patch": {"start": "2026-12-01T10:00:00Z"}},
                    {"if": {"outcome": "refused"}, "answer": "I could not book the meeting: {last.reason}."},
                ],
            },
            {"id": "check", "call": "calendar.list_events", "arguments": {"date": "2026-12-01"}},
            {"id": "done", "answer": "Booked {book.result.title} ({book.result.id}) at {book.result.start}."},
        ],
    },
    "finance-refund": {
        "name": "finance-refund",
        "description": "finance-agent: looks the customer up and refunds 120 EUR, within its limit.",
        "steps": [
            {"id": "lookup", "call": "crm.get_customer", "arguments": {"customer_id": "C1001"}},
            {
                "id": "refund",
                "call": "billing.issue_refund",
                "arguments": {"customer_id": "C1001", "amount": 120, "currency": "EUR", "reason": "duplicate charge"},
                "on": [{"if": {"outcome": "refused"}, "answer": "The refund was refused: {last.reason}."}],
            },
            {"id": "done", "answer": "Refund {refund.result.refund_id} of 120 EUR issued to {lookup.result.name}."},
        ],
    },
    "finance-refund-approval": {
        "name": "finance-refund-approval",
        "description": (
            "finance-agent: refunds 450 EUR, above what it may refund alone; the gateway parks the call for a human, "
            "the client waits, and the refund executes once when approved."
        ),
        "steps": [
            {"id": "lookup", "call": "crm.get_customer", "arguments": {"customer_id": "C1001"}},
            {
                "id": "refund",
                "say": "Refunds above 200 EUR need a human's approval; asking for it.",
                "call": "billing.issue_refund",
                "arguments": {"customer_id": "C1001", "amount": 450, "currency": "EUR", "reason": "contract ended"},
                "on": [
                    {"if": {"reason": "approval.denied"}, "answer": "A human approver denied the 450 EUR refund."},
                    {"if": {"reason": "approval.expired"}, "answer": "Nobody approved the 450 EUR refund in time."},
                    {
                        "if": {"reason": "approval.used"},
                        "answer": "That approval was already spent on an earlier call.",
                    },
                    {"if": {"reason": "approval.pending"}, "answer": "The refund still awaits approval."},
                    {"if": {"reason": "policy.denied"}, "answer": "A 450 EUR refund is beyond what I may issue."},
                    {"if": {"outcome": "refused"}, "answer": "The refund was refused: {last.reason}."},
                ],
            },
            {
                "id": "done",
                "answer": "Refund {refund.result.refund_id} of 450 EUR issued to {lookup.result.name} after approval.",
            },
        ],
    },
}
