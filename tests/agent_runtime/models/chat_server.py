"""A local HTTP server that speaks the OpenAI chat-completions wire format, played by the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.serving import serve_in_thread


@dataclass
class Reply:
    body: Any  # a dict is sent as JSON, a str as it is
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def completion(
    content: str | None = None, tool_calls: list[dict[str, Any]] | None = None, usage: tuple[int, int] | None = (57, 17)
) -> Reply:
    """A chat.completion object as OpenAI's API returns it."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_765_000_000,
        "model": "test-model",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return Reply(body)


def tool_call(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


@dataclass
class ChatServer:
    """Answers from ``replies`` in order (the last repeats), or from ``respond`` when it is set."""

    replies: list[Reply] = field(default_factory=list)
    respond: Callable[[dict[str, Any]], Reply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            payload = await request.json()
            self.requests.append(payload)
            self.headers.append(dict(request.headers))
            if self.respond is not None:
                reply = self.respond(payload)
            else:
                reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            return Response(body, status_code=reply.status, headers=reply.headers, media_type="application/json")

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def serve_chat(server: ChatServer) -> Iterator[ChatServer]:
    with serve_in_thread(server.app()) as url:
        server.base_url = url + "/v1"
        yield server
