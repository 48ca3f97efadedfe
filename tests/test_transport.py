"""Reading a request body against its deadline (:class:`gateway.transport.ReadDeadline`), in a real event loop;
and the HTTP status of an answer that is one refusal alone.

The ``receive`` here is a queue the test feeds, standing in for the server's;
the tests against a real uvicorn server and raw sockets are in test_edge.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.types import Message

from gateway.errors import RequestTimeout
from gateway.transport import Request, answer_response
from tests.conftest import GatewayFactory
from tests.store.test_redis import dead_url

TIMEOUT_S = 0.05


class Client:
    """The server side of one request: ``receive`` returns what the test has sent, waiting when nothing has."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    def send(self, body: bytes, more_body: bool) -> None:
        self.messages.put_nowait({"type": "http.request", "body": body, "more_body": more_body})

    async def receive(self) -> Message:
        return await self.messages.get()

    def request(self) -> Request:
        scope: dict[str, Any] = {"type": "http", "method": "POST", "headers": []}
        return Request(scope, self.receive)


async def test_body_that_has_already_arrived_starts_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual case, a small body uvicorn parsed before the app ran, costs no timer at all."""
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_at = loop.call_at

    def counting_call_at(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        timers.append(when)
        return call_at(when, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting_call_at)
    client = Client()
    client.send(b'{"jsonrpc":"2.0","method":"ping","id":1}', more_body=False)
    assert await client.request().body(TIMEOUT_S) == b'{"jsonrpc":"2.0","method":"ping","id":1}'
    await asyncio.sleep(0)  # a timer would be armed on the next loop iteration
    assert timers == []


async def test_body_arriving_in_pieces_within_the_deadline_is_read_whole() -> None:
    client = Client()
    request = asyncio.create_task(client.request().body(10.0))
    for piece in (b'{"jsonrpc":', b'"2.0","method":', b'"ping","id":1}'):
        await asyncio.sleep(0.01)  # the read is waiting when each piece comes
        client.send(piece, more_body=piece != b'"ping","id":1}')
    assert await request == b'{"jsonrpc":"2.0","method":"ping","id":1}'


async def test_body_that_stalls_raises_request_timeout() -> None:
    client = Client()
    client.send(b'{"jsonrpc":', more_body=True)
    with pytest.raises(RequestTimeout) as caught:
        await client.request().body(TIMEOUT_S)
    assert caught.value.http_status == 408
    assert caught.value.reason == "protocol.invalid_request"


async def test_body_that_keeps_trickling_past_the_deadline_raises_request_timeout() -> None:
    """The deadline is for the whole body, not for each piece: steady progress does not extend it."""
    client = Client()

    async def trickle() -> None:
        while True:
            client.send(b" ", more_body=True)
            await asyncio.sleep(TIMEOUT_S / 5)

    trickling = asyncio.create_task(trickle())
    try:
        with pytest.raises(RequestTimeout):
            await client.request().body(TIMEOUT_S)
    finally:
        trickling.cancel()


async def test_deadline_does_not_outlive_the_body() -> None:
    """Once the body is read, the request may take as long as it needs: no timer is left to cancel it."""
    client = Client()

    async def read_then_work() -> int | None:
        await client.request().body(TIMEOUT_S)
        await asyncio.sleep(TIMEOUT_S * 4)  # past the deadline
        task = asyncio.current_task()
        return task.cancelling() if task is not None else None

    handling = asyncio.create_task(read_then_work())
    await asyncio.sleep(TIMEOUT_S / 5)  # the first read waits and arms the timer
    client.send(b"{}", more_body=False)
    assert await handling == 0


async def test_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    """A server shutting down cancels the task; that must not turn into a 408 the task tries to send."""
    client = Client()
    reading = asyncio.create_task(client.request().body(10.0))
    await asyncio.sleep(0.01)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading


def refusal(reason: str, id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "error": {"code": -31503, "message": "-", "data": {"reason": reason}}}


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (refusal("store.unavailable"), 503),
        (refusal("audit.unavailable"), 503),
        (refusal("backend.unavailable"), 200),  # the backend's trouble, not callgate's: a JSON-RPC answer
        ([refusal("store.unavailable"), refusal("store.unavailable", 2)], 200),  # a batch is answered as a whole
        ({"jsonrpc": "2.0", "id": 1, "result": {}}, 200),
    ],
)
def test_an_answer_that_is_callgate_being_unable_to_serve_is_503_when_alone(payload: Any, status: int) -> None:
    assert answer_response(payload).status_code == status


def test_a_call_refused_because_the_store_is_down_is_503_on_rpc(start_gateway: GatewayFactory) -> None:
    """A load balancer reading only the status must see that this gateway cannot serve (ARCHITECTURE: 503)."""
    gateway = start_gateway(CALLGATE_REDIS_URL=dead_url())
    alone = gateway.rpc("tools/call", {"name": "crm.get_customer", "arguments": {"customer_id": "C1001"}})
    assert alone.status_code == 503
    assert (alone.json()["error"]["code"], alone.json()["error"]["data"]["reason"]) == (-31503, "store.unavailable")
    batch = [{"jsonrpc": "2.0", "id": n, "method": "tools/list"} for n in (1, 2)]
    answered = httpx.post(f"{gateway.url}/rpc", json=batch, headers=gateway.headers(), timeout=10)
    assert answered.status_code == 200
    assert [answer["error"]["data"]["reason"] for answer in answered.json()] == ["store.unavailable"] * 2
