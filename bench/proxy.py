"""Scenario P: a bare JSON-RPC pass-through on callgate's own stack, the ceiling for any gateway here.

``python -m bench.proxy --port N --upstream 'http://127.0.0.1:8701/crm/customers/{customer_id}'``

One POST route: parse the JSON-RPC body, fill the upstream URL from the
``tools/call`` arguments, forward it with callgate's own upstream client, and
wrap the upstream JSON in a ``tools/call`` result of callgate's shape.
Everything callgate adds (authentication, policy, validation, audit, the
pipeline, the edge middleware) is left out on purpose; everything both must do
is done the same way (uvicorn with the same defaults, Starlette, the same JSON
library and encoder, the same client, the same response), so the gap between P
and G is what callgate costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from yarl import URL

# callgate's own upstream pool and JSON codec, imported rather than copied: when callgate changes its client
# (transport, limits) or its JSON library, P changes with it and stays the ceiling of the same stack.
from gateway.backends import UpstreamClient
from gateway.jsoncodec import dumps, loads


def create_proxy_app(upstream: str, timeout_s: float = 5.0) -> Starlette:
    client = UpstreamClient()  # as gateway.app.create_app builds it

    async def rpc(request: Request) -> Response:
        # callgate's codec, without the checks gateway.jsonrpc.decode adds (nesting depth, request shape).
        message = loads(await request.body())
        arguments = message["params"].get("arguments", {})
        url = upstream.format_map({name: quote(str(value), safe="") for name, value in arguments.items()})
        # The same call gateway.backends.http makes: deadline, no redirects, URL sent as built.
        async with (
            asyncio.timeout(timeout_s),
            client.session.get(URL(url, encoded=True), allow_redirects=False) as answer,
        ):
            payload = await answer.read()
        value = loads(payload)
        text = dumps(value).decode()  # as ToolResult.from_value
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        result["structuredContent"] = value
        return Response(
            dumps({"jsonrpc": "2.0", "result": result, "id": message.get("id")}), media_type="application/json"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    return Starlette(routes=[Route("/rpc", rpc, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="URL template; {name} is filled from the arguments")
    options = parser.parse_args()
    # The same call as `callgate serve` with one worker (uvicorn's defaults: uvloop and httptools when installed).
    uvicorn.run(
        create_proxy_app(options.upstream),
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
