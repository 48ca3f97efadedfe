"""``POST /rpc``: plain JSON-RPC 2.0 over HTTP, batches and notifications included."""

from __future__ import annotations

from typing import Any

from gateway.dispatcher import Dispatcher, RequestContext
from gateway.errors import GatewayError
from gateway.jsonrpc import Request as RpcRequest
from gateway.jsonrpc import answer, answer_batch
from gateway.runtime import RuntimeHolder
from gateway.transport import (
    Request,
    Response,
    answer_response,
    authenticate,
    error_response,
    peer_of,
    read_json,
    request_id_of,
)


class RpcEndpoint:
    def __init__(self, holder: RuntimeHolder, dispatcher: Dispatcher) -> None:
        self._holder = holder
        self._dispatcher = dispatcher

    async def handle(self, request: Request) -> Response:
        runtime = self._holder.current
        try:
            principal = authenticate(request, runtime)
            payload = await read_json(request, runtime)
        except GatewayError as exc:
            return error_response(exc)
        context = RequestContext(principal, request_id_of(request), "rpc", source=peer_of(request))

        async def call(message: RpcRequest) -> Any:
            return await self._dispatcher(message, context)

        if isinstance(payload, list):
            responses: Any = await answer_batch(payload, call, runtime.config.gateway.server.max_batch_length)
        else:
            responses = await answer(payload, call)
        if responses is None or responses == []:
            return Response(status_code=204)
        return answer_response(responses)
