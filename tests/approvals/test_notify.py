"""The webhook against a real loopback receiver: told of each new request, never of argument values, never waited on."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.serving import free_port, serve_in_thread
from tests.approvals.conftest import AGENT, REFUND, ConfigCopy, park
from tests.conftest import GatewayFactory
from tests.test_reload import eventually


@dataclass
class Receiver:
    """A chat bot's webhook: records each POST; answers with ``status``, after ``release`` is set when held."""

    url: str = ""
    status: int = 204
    bodies: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()

    async def hook(request: Request) -> Response:
        received.bodies.append(json.loads(await request.body()))
        received.content_types.append(request.headers.get("content-type", ""))
        if received.hold:
            await asyncio.to_thread(received.release.wait, 30)
        return JSONResponse({}, status_code=received.status)

    with serve_in_thread(Starlette(routes=[Route("/hooks/approvals", hook, methods=["POST"])])) as url:
        received.url = f"{url}/hooks/approvals"
        yield received
    received.release.set()


def webhook_gateway(start_gateway: GatewayFactory, config: ConfigCopy, url: str, backend: str, **settings: Any) -> str:
    config.edit_gateway(approvals={"notify_url": url, **settings})
    return start_gateway(config.path, CALLGATE_DEMO_BACKEND_URL=backend).url


def test_each_new_request_is_posted_without_argument_values(
    start_gateway: GatewayFactory,
    config_copy: ConfigCopy,
    receiver: Receiver,
    counting_backend: str,
    demo_keys: dict[str, str],
) -> None:
    gateway = webhook_gateway(start_gateway, config_copy, receiver.url, counting_backend)
    approval_id = park(gateway, demo_keys[AGENT])
    eventually(lambda: len(receiver.bodies) == 1)
    (body,) = receiver.bodies
    assert receiver.content_types == ["application/json"]
    assert body["event"] == "approval/requested"
    assert (body["approval_id"], body["tool"], body["subject"], body["tenant"]) == (
        approval_id,
        "billing.issue_refund",
        "finance-bot",
        "acme",
    )
    assert body["expires_at"].endswith("Z") and body["required_by"].startswith("policies/policy.csv:")
    assert body["url"] == f"http://127.0.0.1:8700/admin/approvals/{approval_id}"
    text = json.dumps(body)
    for value in REFUND.values():
        assert str(value) not in text, value
    park(gateway, demo_keys[AGENT])  # the same call again: no new request, no second notification
    park(gateway, demo_keys[AGENT], {**REFUND, "amount": 451})
    eventually(lambda: len(receiver.bodies) == 2)


def test_a_slow_webhook_never_holds_the_call_up(
    start_gateway: GatewayFactory,
    config_copy: ConfigCopy,
    receiver: Receiver,
    counting_backend: str,
    demo_keys: dict[str, str],
) -> None:
    """The receiver holds its answer until the test lets it go; the agent has its answer before that."""
    receiver.hold = True
    gateway = webhook_gateway(start_gateway, config_copy, receiver.url, counting_backend)
    park(gateway, demo_keys[AGENT])
    assert not receiver.release.is_set()
    eventually(lambda: len(receiver.bodies) == 1)  # it was sent, and is still unanswered
    receiver.release.set()


def test_webhook_failures_are_logged_without_personal_data_and_change_nothing(
    start_gateway: GatewayFactory,
    config_copy: ConfigCopy,
    receiver: Receiver,
    counting_backend: str,
    demo_keys: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="callgate.approvals")
    receiver.status = 500
    gateway = webhook_gateway(start_gateway, config_copy, receiver.url, counting_backend)
    answered = park(gateway, demo_keys[AGENT])
    eventually(lambda: any("HTTP 500" in r.getMessage() for r in caplog.records))
    dead = f"http://127.0.0.1:{free_port()}/hooks/approvals"
    other = webhook_gateway(start_gateway, config_copy, dead, counting_backend, notify_timeout_s=1)
    refused = park(other, demo_keys[AGENT])
    eventually(lambda: any(refused in r.getMessage() and "failed" in r.getMessage() for r in caplog.records))
    messages = " ".join(r.getMessage() for r in caplog.records if r.name == "callgate.approvals")
    assert answered in messages
    for secret in ("finance-bot", "C1001", "hooks/approvals", "127.0.0.1"):
        assert secret not in messages, secret
