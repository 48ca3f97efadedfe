"""A small stand-in for a gateway that speaks callgate's MCP wire format, for what the real one cannot do yet.

It answers ``initialize``, ``tools/list`` and ``tools/call`` like callgate's
``/mcp`` (JSON responses, a session id) and plays, per tool, a list of answers
queued by the test: JSON-RPC errors (approval pending, denied, rate limited) or
results, the last one repeating. It records every request's params, so a test
can check what the client sent (``_meta``, arguments). The real approval flow
is tested against the real gateway once the approvals half lands.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.serving import serve_in_thread


@dataclass
class Answer:
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    delay_s: float = 0.0


def pending(approval_id: str = "apr-1", expires_in_s: float = 600) -> Answer:
    expires = (datetime.now(UTC) + timedelta(seconds=expires_in_s)).isoformat().replace("+00:00", "Z")
    data = {"reason": "approval.pending", "approval_id": approval_id, "expires_at": expires}
    return Answer(error={"code": -31202, "message": "Waiting for human approval", "data": data})


def refused(code: int, reason: str, **data: Any) -> Answer:
    return Answer(error={"code": code, "message": f"refused: {reason}", "data": {"reason": reason, **data}})


def result(value: dict[str, Any], delay_s: float = 0.0) -> Answer:
    return Answer(result={"content": [{"type": "text", "text": str(value)}], "structuredContent": value,
                          "isError": False}, delay_s=delay_s)  # fmt: skip


@dataclass
class StandIn:
    url: str = ""
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Answer the next N non-initialize requests 404, as for a session the gateway forgot.
    forget_sessions: int = 0

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [r["params"] for r in self.requests if r["method"] == "tools/call" and r["params"]["name"] == tool]

    def app(self) -> Starlette:
        sessions = itertools.count(1)

        async def mcp(request: Request) -> Response:
            if request.method == "DELETE":
                return Response(status_code=204)
            message = await request.json()
            method = message.get("method")
            if "id" not in message:
                return Response(status_code=202)
            if method == "initialize":
                body = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "stand-in"}}
                headers = {"Mcp-Session-Id": f"s{next(sessions)}"}
                return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": body}, headers=headers)
            if self.forget_sessions > 0:
                self.forget_sessions -= 1
                return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32600}}, 404)
            self.requests.append({"method": method, "params": message.get("params", {})})
            if method == "tools/list":
                tools = [
                    {"name": name, "description": name, "inputSchema": {"type": "object"}} for name in self.answers
                ]
                return _answer(message["id"], Answer(result={"tools": tools}))
            queue = self.answers[message["params"]["name"]]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            if answer.delay_s:
                await asyncio.sleep(answer.delay_s)
            return _answer(message["id"], answer)

        return Starlette(routes=[Route("/mcp", mcp, methods=["POST", "DELETE"])])


def _answer(request_id: Any, answer: Answer) -> JSONResponse:
    if answer.error is not None:
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": answer.error})
    return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": answer.result})


def serve_standin(stand_in: StandIn) -> Iterator[StandIn]:
    with serve_in_thread(stand_in.app()) as url:
        stand_in.url = url
        yield stand_in
