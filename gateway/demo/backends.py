"""The demo company's backends: a CRM, a calendar, a document index and billing.

A small Starlette app with in-memory data, served by ``callgate demo-backends``.
The shipped tool specs point at it; the demo, the tests and the benchmark call
it through the gateway. Each app instance has its own data.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_CUSTOMERS: dict[str, dict[str, Any]] = {
    "C1001": {"id": "C1001", "name": "Ada Lovelace", "email": "ada@example.com", "plan": "enterprise"},
    "C1002": {"id": "C1002", "name": "Grace Hopper", "email": "grace@example.com", "plan": "team"},
    "C1003": {"id": "C1003", "name": "Alan Turing", "email": "alan@example.com", "plan": "starter"},
}

_DOCUMENTS: list[dict[str, str]] = [
    {"id": "D1", "title": "Refund policy", "text": "Refunds up to 500 EUR are approved by finance agents."},
    {"id": "D2", "title": "Onboarding checklist", "text": "Create the account, invite the team, book a kickoff."},
    {"id": "D3", "title": "Support hours", "text": "Support answers weekdays from 8:00 to 18:00 CET."},
    {"id": "D4", "title": "Security overview", "text": "All agent tool calls pass through the callgate gateway."},
]

#: About 1 KB of a customer's earlier messages, with the personal data such threads carry.
TICKET_HISTORY: list[dict[str, str]] = [
    {
        "from": "customer",
        "text": "Hello, my invoice for October shows a double charge. Please refund it to my account "
        "DE89 3704 0044 0532 0130 00 and confirm by email to grace.hopper@example.org. I have been a "
        "customer since 2019 and never had a problem before; the order numbers are 88213 and 88214.",
    },
    {
        "from": "support",
        "text": "Thanks for reaching out. We have found both charges and opened a refund request. It "
        "usually takes three to five working days. If you prefer, we can call you back on the number "
        "on file; just reply with a time that suits you during our support hours.",
    },
    {
        "from": "customer",
        "text": "A call would be great: +44 20 7946 0958, any weekday after 14:00. I also noticed that "
        "logins from 198.51.100.23 were flagged last week, which was me travelling, so no need to worry "
        "about that. Thanks again for the quick answer, and have a good week.",
    },
]


@dataclass
class DemoData:
    """The mutable state of one demo backend instance."""

    customers: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: dict(v) for k, v in _CUSTOMERS.items()})
    events: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def create_backend_app() -> Starlette:
    """A fresh demo backend with its own in-memory data."""
    data = DemoData()

    async def get_customer(request: Request) -> Response:
        customer = data.customers.get(request.path_params["customer_id"])
        if customer is None:
            return _problem(404, "no such customer")
        return JSONResponse(customer)

    async def update_email(request: Request) -> Response:
        customer = data.customers.get(request.path_params["customer_id"])
        if customer is None:
            return _problem(404, "no such customer")
        body = await _json_body(request)
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or "@" not in email:
            return _problem(422, "email must be an address")
        customer["email"] = email
        return JSONResponse(customer)

    async def list_events(request: Request) -> Response:
        day = request.query_params.get("date")
        events = [e for e in data.events if day is None or e["start"].startswith(day)]
        return JSONResponse({"events": events})

    async def create_event(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not body.get("title") or not body.get("start"):
            return _problem(422, "title and start are required")
        event = {
            "id": f"E{next(data.ids)}",
            "title": body["title"],
            "start": body["start"],
            "duration_min": body.get("duration_min", 30),
            "attendees": body.get("attendees", []),
        }
        data.events.append(event)
        return JSONResponse(event, status_code=201)

    async def search_docs(request: Request) -> Response:
        words = request.query_params.get("query", "").lower().split()
        limit = int(request.query_params.get("limit", "5"))
        hits = [
            {"id": doc["id"], "title": doc["title"], "snippet": doc["text"][:120]}
            for doc in _DOCUMENTS
            if all(w in (doc["title"] + " " + doc["text"]).lower() for w in words)
        ]
        return JSONResponse({"results": hits[:limit]})

    async def issue_refund(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or body.get("customer_id") not in data.customers:
            return _problem(404, "no such customer")
        refund = {
            "refund_id": f"R{next(data.ids)}",
            "customer_id": body["customer_id"],
            "amount": body.get("amount"),
            "currency": body.get("currency"),
            "status": "issued",
            # The card on file, in full: the gateway masks it on the way out (pii rule for billing.*).
            "card": "4242 4242 4242 4242",
        }
        data.refunds.append(refund)
        return JSONResponse(refund, status_code=201)

    async def open_ticket(request: Request) -> Response:
        """A ticket opened: the ticket as sent, and the customer's earlier messages (the benchmark's PII load)."""
        body = await _json_body(request)
        return JSONResponse({"id": f"T{next(data.ids)}", "status": "open", "ticket": body, "history": TICKET_HISTORY})

    async def broken(request: Request) -> Response:
        """Always fails: lets the demo and tests show how a backend fault is reported."""
        return _problem(500, "the reporting service is down")

    async def echo(request: Request) -> Response:
        """Answers with what it was sent: used by tests and the benchmark's pass-through."""
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
                "body": await _json_body(request),
            }
        )

    return Starlette(
        routes=[
            Route("/crm/customers/{customer_id}", get_customer, methods=["GET"]),
            Route("/crm/customers/{customer_id}/email", update_email, methods=["PUT"]),
            Route("/calendar/events", list_events, methods=["GET"]),
            Route("/calendar/events", create_event, methods=["POST"]),
            Route("/docs/search", search_docs, methods=["GET"]),
            Route("/billing/refunds", issue_refund, methods=["POST"]),
            Route("/support/tickets", open_ticket, methods=["POST"]),
            Route("/reports/broken", broken, methods=["GET", "POST"]),
            Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status)
