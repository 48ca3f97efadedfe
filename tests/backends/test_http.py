"""The http backend against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.backends.client import UpstreamClient
from gateway.backends.http import HttpBackend
from gateway.config import ConfigError, HttpBackendSpec, ToolSpec
from gateway.errors import BackendBadResponse, BackendTransient, InvalidParams
from gateway.serving import serve_in_thread


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode(),
            "query": list(request.query_params.multi_items()),
            "token": request.headers.get("x-backend-token"),
            "authorization": request.headers.get("authorization"),
            "body": body.decode() or None,
        }
    )


def backend_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/redirect", lambda r: RedirectResponse("http://127.0.0.1:9/elsewhere"), methods=["GET"]),
            Route("/missing", lambda r: JSONResponse({"error": "no such thing"}, status_code=404), methods=["GET"]),
            Route("/fail", lambda r: PlainTextResponse("stack trace here", status_code=503), methods=["GET"]),
            Route("/status/{code:int}", lambda r: Response(status_code=r.path_params["code"]), methods=["GET"]),
            Route("/big", lambda r: PlainTextResponse("x" * 5000), methods=["GET"]),
            Route("/garbage", lambda r: Response(b"{not json", media_type="application/json"), methods=["GET"]),
        ]
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_in_thread(backend_app()) as url:
        yield url


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    upstream = UpstreamClient()
    yield upstream
    await upstream.aclose()


def make_backend(
    client: UpstreamClient,
    url: str,
    *,
    method: str = "GET",
    args: Any = "query",
    headers: tuple[tuple[str, str], ...] = (),
    max_bytes: int = 1_000_000,
    required: tuple[str, ...] = (),
) -> HttpBackend:
    backend = HttpBackendSpec(method=method, url=url, args=args, headers=headers, max_response_bytes=max_bytes)
    spec = ToolSpec(
        name="test.tool",
        description="test",
        input_schema={"type": "object", "required": list(required)},
        backend=backend,
        source=Path("test.yaml"),
    )
    return HttpBackend(spec, backend, client)


async def test_path_arguments_are_percent_encoded_and_cannot_climb_out(server: str, client: UpstreamClient) -> None:
    backend = make_backend(client, server + "/echo/items/{id}", required=("id",))
    for hostile, expected in [
        ("../../admin", "/echo/items/..%2F..%2Fadmin"),
        ("..", "/echo/items/%2E%2E"),
        ("a/b?c=d#e", "/echo/items/a%2Fb%3Fc%3Dd%23e"),
        ("@evil.example", "/echo/items/%40evil.example"),
    ]:
        result = await backend.invoke({"id": hostile}, {})
        assert result.structured is not None
        assert result.structured["raw_path"] == expected


async def test_remaining_arguments_go_to_the_query_for_get(server: str, client: UpstreamClient) -> None:
    backend = make_backend(client, server + "/echo/{id}", required=("id",))
    result = await backend.invoke({"id": "7", "q": "a b", "tags": ["x", "y"], "flag": True}, {})
    assert result.structured is not None
    assert result.structured["query"] == [["q", "a b"], ["tags", "x"], ["tags", "y"], ["flag", "true"]]


async def test_remaining_arguments_go_to_a_json_body_for_post(server: str, client: UpstreamClient) -> None:
    backend = make_backend(client, server + "/echo/{id}", method="POST", args="json", required=("id",))
    result = await backend.invoke({"id": "7", "title": "hello"}, {})
    assert result.structured is not None
    assert result.structured["body"] == '{"title":"hello"}'


async def test_configured_headers_are_sent_and_no_caller_credential_is(server: str, client: UpstreamClient) -> None:
    backend = make_backend(client, server + "/echo/x", headers=(("X-Backend-Token", "s3cret"),))
    result = await backend.invoke({}, {})
    assert result.structured is not None
    assert result.structured["token"] == "s3cret"
    assert result.structured["authorization"] is None


async def test_empty_or_structured_path_argument_is_refused(server: str, client: UpstreamClient) -> None:
    backend = make_backend(client, server + "/echo/{id}", required=("id",))
    for bad in ["", {"a": 1}, ["x"], True, None]:
        with pytest.raises(InvalidParams):
            await backend.invoke({"id": bad}, {})


async def test_backend_4xx_is_a_tool_error_result(server: str, client: UpstreamClient) -> None:
    notes: dict[str, Any] = {}
    result = await make_backend(client, server + "/missing").invoke({}, notes)
    assert result.is_error
    assert result.structured == {"status": 404, "error": {"error": "no such thing"}}
    assert notes["backend_status"] == 404


async def test_backend_5xx_is_a_bad_response_without_its_body(server: str, client: UpstreamClient) -> None:
    with pytest.raises(BackendBadResponse) as caught:
        await make_backend(client, server + "/fail").invoke({}, {})
    assert "stack trace" not in str(caught.value) + str(caught.value.data)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_from_the_backend_are_transient(server: str, client: UpstreamClient, status: int) -> None:
    """502, 503 and 504 say "not now": the retry stage may try again (for an idempotent tool)."""
    with pytest.raises(BackendTransient) as caught:
        await make_backend(client, f"{server}/status/{status}").invoke({}, {})
    assert caught.value.code == -31502
    assert caught.value.reason == "backend.bad_response"
    assert caught.value.data == {"backend_status": status}


@pytest.mark.parametrize("route", ["/status/500", "/status/501", "/garbage", "/redirect"])
async def test_other_failures_are_not_transient(server: str, client: UpstreamClient, route: str) -> None:
    """The backend answered, wrongly: another attempt would be answered the same."""
    with pytest.raises(BackendBadResponse) as caught:
        await make_backend(client, server + route).invoke({}, {})
    assert not isinstance(caught.value, BackendTransient)


async def test_redirects_are_not_followed(server: str, client: UpstreamClient) -> None:
    with pytest.raises(BackendBadResponse):
        await make_backend(client, server + "/redirect").invoke({}, {})


async def test_response_over_the_size_limit_is_refused(server: str, client: UpstreamClient) -> None:
    with pytest.raises(BackendBadResponse, match="too large"):
        await make_backend(client, server + "/big", max_bytes=1000).invoke({}, {})


async def test_malformed_json_is_a_bad_response(server: str, client: UpstreamClient) -> None:
    with pytest.raises(BackendBadResponse, match="malformed"):
        await make_backend(client, server + "/garbage").invoke({}, {})


async def test_unreachable_backend_is_a_transient_bad_response(client: UpstreamClient) -> None:
    with pytest.raises(BackendTransient, match="unreachable"):
        await make_backend(client, "http://127.0.0.1:9/nothing").invoke({}, {})


def test_url_placeholder_must_be_a_required_argument(client: UpstreamClient) -> None:
    with pytest.raises(ConfigError, match="required"):
        make_backend(client, "http://127.0.0.1:9/items/{id}")


async def test_dropped_connection_is_a_transient_bad_response_sent_once(client: UpstreamClient) -> None:
    """A backend that accepts and then hangs up is not slow; and aiohttp must not quietly send the GET again.

    Whether a tool may be called twice is for its spec to say and the retry stage to act on.
    """
    requests = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        await reader.readuntil(b"\r\n\r\n")
        requests += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(BackendTransient):
            await make_backend(client, f"http://127.0.0.1:{port}/x").invoke({}, {})
        assert requests == 1
    finally:
        server.close()
        await server.wait_closed()


async def test_connection_dropped_mid_body_is_not_transient(client: UpstreamClient) -> None:
    """Once the backend has begun to answer, the request ran: not the kind of failure worth sending again."""

    async def half_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(half_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(BackendBadResponse) as caught:
            await make_backend(client, f"http://127.0.0.1:{port}/x").invoke({}, {})
        assert not isinstance(caught.value, BackendTransient)
    finally:
        server.close()
        await server.wait_closed()
