"""Run uvicorn servers on loopback sockets that are bound first, so their ports are known.

Used by ``callgate demo`` (servers as tasks in one event loop) and by the test
suite and the benchmark (a server in a thread of its own). Every server speaks
HTTP through :class:`gateway.http_protocol.HttpProtocol`, as ``callgate serve``
does, so the tests measure the head limits production runs with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Any

import uvicorn

from gateway.http_protocol import HttpProtocol

log = logging.getLogger("callgate.serve")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop ``callgate serve`` runs on: uvloop when installed.

    The demo and the tests use it too, so they measure what production does; on the plain asyncio
    loop, a keep-alive response written as headers then body stalls ~40 ms on a delayed ACK.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def bind_loopback(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on ``host``; port 0 picks a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now, for a process that binds it moments later (tests, benchmark)."""
    with bind_loopback(0, host) as sock:
        return int(sock.getsockname()[1])


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def _server(app: Any, **options: Any) -> uvicorn.Server:
    options.setdefault("log_level", "warning")
    options.setdefault("access_log", False)
    options.setdefault("lifespan", "on")
    options.setdefault("http", HttpProtocol)
    return uvicorn.Server(uvicorn.Config(app, **options))


@contextlib.asynccontextmanager
async def serve_in_task(app: Any, port: int = 0, **options: Any) -> AsyncIterator[str]:
    """Serve ``app`` from a task in the running loop; yields its base URL once it accepts connections."""
    sock = bind_loopback(port)
    server = _server(app, **options)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped while starting")
            await asyncio.sleep(0.01)
        yield url_of(sock)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int = 0, **options: Any) -> Iterator[str]:
    """Serve ``app`` from a thread with its own event loop; yields its base URL once it is up."""
    sock = bind_loopback(port)
    server = _server(app, **options)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{url_of(sock)}", daemon=True)
    thread.start()
    try:
        while not server.started:
            if failure or not thread.is_alive():
                raise RuntimeError("server failed to start") from (failure[0] if failure else None)
            threading.Event().wait(0.01)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM as the end of a normal life: drain, close the trail, exit 0.

    On SIGTERM uvicorn already stops accepting (it closes the listening sockets), lets the requests in
    flight finish within ``timeout_graceful_shutdown`` (``server.shutdown_timeout_s``), cancels the rest,
    and runs the app's shutdown, where the audit trail gets its final checkpoint. What it then does is
    raise SIGTERM again, so that the process dies of it (status 143); an orchestrator stopping a pod is
    no failure, so callgate returns instead and ``callgate serve`` exits 0. SIGINT keeps uvicorn's way
    (a second one forces the exit).
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM:
            if not self.should_exit:
                log.info("SIGTERM: no new connections; finishing the calls in flight, then exiting")
            self.should_exit = True
            return
        super().handle_exit(sig, frame)
