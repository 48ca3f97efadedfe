"""Loopback backends a test can script, and a config dir with test tools, for the backend-safety stages.

:class:`ScriptedBackend` is a plain ASGI app served by uvicorn
(:func:`gateway.serving.serve_in_thread`): it answers each request with the
next action of its script and counts what it saw, requests at once included.
A connection dropped before any answer is below what ASGI can express, so
:func:`serve_dropping` is a bare asyncio server in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.jsoncodec import dumps
from gateway.serving import new_event_loop, serve_in_thread
from tests.conftest import RunningGateway, copy_shipped_config

#: What a backend does with one request: "ok" (200 {"ok": true}), a status code, "garbage" (malformed JSON),
#: "hang" (never sends headers) or "drip" (headers, then a byte every 0.2 s); the last two until the gateway leaves.
Action = str | int

_LONGEST_S = 60  # a hung or dripping answer ends by itself after this, so a broken test cannot hang the suite


@dataclass
class ScriptedBackend:
    """A backend answering request n with ``script[n]``, and ``then`` once the script runs out."""

    script: list[Action] = field(default_factory=list)
    then: Action = "ok"
    requests: int = 0
    at_once: int = 0
    most_at_once: int = 0

    def reset(self, *script: Action, then: Action = "ok") -> None:
        self.script, self.then = list(script), then
        self.requests = self.at_once = self.most_at_once = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        action = self.script.pop(0) if self.script else self.then
        self.requests += 1
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            await receive()  # the request body
            await _answer(action, receive, send)
        finally:
            self.at_once -= 1


async def _answer(action: Action, receive: Any, send: Any) -> None:
    if action == "hang":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receive(), _LONGEST_S)  # returns at http.disconnect
        return
    if action == "drip":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        gone = asyncio.ensure_future(receive())
        try:
            for _ in range(int(_LONGEST_S / 0.2)):
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                await asyncio.wait({gone}, timeout=0.2)
                if gone.done():
                    return
        finally:
            gone.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    status, body = 200, dumps({"ok": True})
    if isinstance(action, int):
        status, body = action, dumps({"error": f"status {action}"})
    elif action == "garbage":
        body = b"{not json"
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def serve_scripted(backend: ScriptedBackend) -> Iterator[str]:
    """Serve ``backend`` with uvicorn on a loopback port; yields its base URL."""
    with serve_in_thread(backend, lifespan="off") as url:
        yield url


@dataclass
class DroppingBackend:
    """Answers request n by ``script[n]``: "drop" hangs up without a word, a number is that status; then 200."""

    script: list[Action] = field(default_factory=list)
    requests: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        action = self.script[self.requests] if self.requests < len(self.script) else 200
        self.requests += 1
        if action == "drop":
            writer.close()
            return
        body = dumps({"ok": True} if action == 200 else {"error": f"status {action}"})
        head = f"HTTP/1.1 {action} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()


@contextlib.contextmanager
def serve_dropping(backend: DroppingBackend) -> Iterator[str]:
    """Serve ``backend`` on a loopback port from a thread with its own event loop; yields its base URL."""
    ready = threading.Event()
    stop: list[Callable[[], None]] = []
    url: list[str] = []

    async def run() -> None:
        server = await asyncio.start_server(backend.handle, "127.0.0.1", 0)
        url.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(done.set))
        ready.set()
        async with server:
            await done.wait()

    def serve() -> None:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(run())

    thread = threading.Thread(target=serve, name="dropping-backend", daemon=True)
    thread.start()
    assert ready.wait(10), "the dropping backend did not start"
    try:
        yield url[0]
    finally:
        stop[0]()
        thread.join(timeout=10)


def config_dir(root: Path, tools: dict[str, str]) -> Path:
    """The shipped configuration plus ``tools`` (name: the rest of its YAML), each callable by support agents."""
    copy_shipped_config(root)
    with (root / "policies" / "policy.csv").open("a") as policy:
        for name, spec in tools.items():
            (root / "tool_specs" / f"{name}.yaml").write_text(
                f"name: {name}\ndescription: A tool the test points at a backend it controls.\n"
                f"input_schema: {{type: object}}\n{spec}"
            )
            policy.write(f"\np, support-agent, acme, {name}, call, allow\n")
    return root


def call(gateway: RunningGateway, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = gateway.rpc("tools/call", {"name": tool, "arguments": arguments or {}}).json()
    return body


def code(response: dict[str, Any]) -> int | None:
    return response["error"]["code"] if "error" in response else None


def records(gateway: RunningGateway, tool: str) -> list[dict[str, Any]]:
    return [record for record in gateway.audit_records() if record["tool"] == tool]
