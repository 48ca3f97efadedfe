"""What the ``/rpc`` and ``/mcp`` endpoints share: authentication, body decoding, responses."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Principal
from gateway.errors import GatewayError, Unauthenticated, UnsupportedMediaType
from gateway.jsonrpc import decode, encode, failure
from gateway.runtime import Runtime


def authenticate(request: Request, runtime: Runtime) -> Principal:
    return runtime.authenticator.authenticate(request.headers)


async def read_json(request: Request, runtime: Runtime) -> Any:
    """The decoded body; a ParseError (or InvalidRequest) for a non-JSON content type or body."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()
    body = await request.body()
    return decode(body, runtime.config.gateway.server.max_json_depth)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(payload), status_code=status, headers=headers, media_type="application/json")


def error_response(error: GatewayError, request_id: Any = None, headers: dict[str, str] | None = None) -> Response:
    """The HTTP response for a refusal that ends the whole request."""
    extra = dict(headers or {})
    if isinstance(error, Unauthenticated):
        extra["WWW-Authenticate"] = 'Bearer realm="callgate"'
    return json_response(failure(request_id, error), status=error.http_status, headers=extra)


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))
