"""JSON-RPC 2.0: decoding bodies safely, request objects, batches, notifications, responses.

Transport-neutral: the ``/rpc`` and ``/mcp`` endpoints both use it. Hostile
bodies (invalid UTF-8, absurd nesting, numbers with thousands of digits, NaN)
become -32700 or -32600 here, before any other code sees them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError, InvalidRequest, ParseError, as_gateway_error, error_object
from gateway.jsoncodec import DecodeError, dumps, loads

log = logging.getLogger("callgate.jsonrpc")

Id = str | int | float | None
Params = dict[str, Any] | list[Any] | None


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    params: Params
    id: Id
    is_notification: bool


Call = Callable[[Request], Awaitable[Any]]


def decode(body: bytes, max_depth: int) -> Any:
    """Parse a request body, refusing anything that is not plain, finite, reasonably shaped JSON."""
    try:
        value = loads(body)
    except DecodeError as exc:
        if "depth limit" in str(exc):
            raise InvalidRequest(data={"detail": f"JSON nested deeper than {max_depth} levels"}) from None
        raise ParseError(data={"detail": "body is not valid JSON"}) from None
    # Nesting cannot be deeper than the count of brackets, which C code counts at once.
    if body.count(b"[") + body.count(b"{") > max_depth and _deeper_than(value, max_depth):
        raise InvalidRequest(data={"detail": f"JSON nested deeper than {max_depth} levels"})
    return value


def encode(message: Any) -> bytes:
    return dumps(message)


def parse_request(message: Any) -> Request:
    """One request object, or :class:`InvalidRequest`."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise InvalidRequest()
    method = message.get("method")
    params = message.get("params")
    if not isinstance(method, str) or not (params is None or isinstance(params, dict | list)):
        raise InvalidRequest()
    if "params" in message and params is None:
        raise InvalidRequest()
    is_notification = "id" not in message
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | float | None):
        raise InvalidRequest()
    return Request(method=method, params=params, id=request_id, is_notification=is_notification)


def success(request_id: Id, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def failure(request_id: Id, error: GatewayError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error_object(error), "id": request_id}


async def answer(message: Any, call: Call) -> dict[str, Any] | None:
    """The response to one message (``None`` for a notification); ``call`` performs the method."""
    try:
        request = parse_request(message)
    except InvalidRequest as exc:
        return failure(salvage_id(message), exc)
    try:
        result = await call(request)
    except Exception as exc:
        if not isinstance(exc, GatewayError):
            log.exception("unexpected fault in %s", request.method[:64])
        return None if request.is_notification else failure(request.id, as_gateway_error(exc))
    return None if request.is_notification else success(request.id, result)


async def answer_batch(messages: list[Any], call: Call, max_length: int) -> list[dict[str, Any]] | dict[str, Any]:
    """Responses for a batch: one per request, none for notifications; an empty batch is invalid."""
    if not messages:
        return failure(None, InvalidRequest())
    if len(messages) > max_length:
        return failure(None, InvalidRequest(data={"detail": f"batch longer than {max_length}"}))
    answers = await asyncio.gather(*(answer(message, call) for message in messages))
    return [response for response in answers if response is not None]


def salvage_id(message: Any) -> Id:
    """The id of a malformed request when it can be read; otherwise null, as the spec asks."""
    if isinstance(message, dict):
        candidate = message.get("id")
        if isinstance(candidate, str | int) and not isinstance(candidate, bool):
            return candidate
    return None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than ``limit``, checked without recursion."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
