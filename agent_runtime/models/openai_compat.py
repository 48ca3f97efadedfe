"""A model behind an OpenAI-compatible ``/chat/completions`` endpoint, with tool calling.

Works with vLLM, Ollama, llama.cpp's server and hosted APIs: it sends only the
widely supported fields (``model``, ``messages``, ``tools``, and
``temperature`` / ``max_tokens`` when set) and reads ``choices[0].message``
and ``usage``. Tool names are mapped to function names and back
(:mod:`agent_runtime.models.names`). 429, 5xx and transport failures are
retried with exponential backoff (``Retry-After`` honoured, capped); any other
refusal, or an answer that is not the wire format, raises :class:`ModelError`
with what was wrong. When a server reports no ``usage``, tokens are estimated
by counting words and the turn says so.

Settings from the environment (:meth:`OpenAICompatModel.from_env`):
``CALLGATE_MODEL_BASE_URL`` (or ``OPENAI_BASE_URL``), e.g.
``http://127.0.0.1:8000/v1``, required: nothing is contacted by default;
``CALLGATE_MODEL_API_KEY`` (or ``OPENAI_API_KEY``), optional for local servers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from agent_runtime.messages import Message, ToolCallRequest
from agent_runtime.models.base import ModelError, ModelTurn, ToolSpec, prompt_words, words
from agent_runtime.models.names import FunctionNames

_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_EXCERPT = 300


class OpenAICompatModel:
    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        temperature: float | None = None,
        max_tokens: int | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = f"openai:{model}"
        self._model = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # trust_env=False: no proxies from the environment; the configured base URL is the only peer.
        self._client = client or httpx.AsyncClient(timeout=timeout_s, trust_env=False)
        self._owns_client = client is None
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._call_ids = itertools.count(1)

    @classmethod
    def from_env(cls, model: str, env: Mapping[str, str], **options: Any) -> OpenAICompatModel:
        base_url = env.get("CALLGATE_MODEL_BASE_URL") or env.get("OPENAI_BASE_URL")
        if not base_url:
            raise ModelError("set CALLGATE_MODEL_BASE_URL (or OPENAI_BASE_URL) to the server's /v1 URL")
        api_key = env.get("CALLGATE_MODEL_API_KEY") or env.get("OPENAI_API_KEY")
        return cls(model, base_url, api_key=api_key, **options)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelTurn:
        history_names = [call.name for message in messages for call in message.tool_calls]
        names = FunctionNames([tool.name for tool in tools] + history_names)
        request: dict[str, Any] = {"model": self._model, "messages": [_wire_message(m, names) for m in messages]}
        if tools:
            request["tools"] = [_wire_tool(tool, names) for tool in tools]
        if self._temperature is not None:
            request["temperature"] = self._temperature
        if self._max_tokens is not None:
            request["max_tokens"] = self._max_tokens
        body = await self._post(request)
        return self._turn(body, names, messages)

    async def _post(self, request: dict[str, Any]) -> Any:
        for attempt in itertools.count():
            try:
                response = await self._client.post(self._url, json=request, headers=self._headers)
            except httpx.TransportError as exc:
                if attempt >= self._max_retries:
                    raise ModelError(f"model server unreachable: {type(exc).__name__}") from None
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            if response.status_code in _RETRIED_STATUSES and attempt < self._max_retries:
                await asyncio.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                continue
            if response.status_code != 200:
                raise ModelError(f"model server answered HTTP {response.status_code}: {_error_excerpt(response)}")
            try:
                return response.json()
            except ValueError:
                raise ModelError("model server answered HTTP 200 with a body that is not JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self._max_backoff_s)
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return float(min(self._backoff_s * 2**attempt, self._max_backoff_s))

    def _turn(self, body: Any, names: FunctionNames, messages: Sequence[Message]) -> ModelTurn:
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelError("malformed chat completion: no choices")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise ModelError("malformed chat completion: choices[0].message is not an object")
        content = _content(message.get("content"))
        raw_calls = message.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise ModelError("malformed chat completion: tool_calls is not a list")
        calls = tuple(self._call(raw, index, names) for index, raw in enumerate(raw_calls))
        usage = body.get("usage")
        prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(prompt, int) and isinstance(completion, int):
            return ModelTurn(content, calls, tokens_in=prompt, tokens_out=completion)
        return ModelTurn(
            content, calls, tokens_in=prompt_words(messages), tokens_out=words(content, calls), tokens_estimated=True
        )

    def _call(self, raw: Any, index: int, names: FunctionNames) -> ToolCallRequest:
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ModelError(f"malformed chat completion: tool_calls[{index}] has no function name")
        call_id = raw.get("id")
        call_id = call_id if isinstance(call_id, str) and call_id else f"call_{next(self._call_ids)}"
        name = names.tool(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some servers send an object instead of a JSON string
            return ToolCallRequest(call_id, name, arguments)
        if arguments is None or arguments == "":
            return ToolCallRequest(call_id, name, {})
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            # Not the whole turn's fault: the call is not sent and the model is told why.
            return ToolCallRequest(call_id, name, {}, problem="the arguments were not a JSON object")
        return ToolCallRequest(call_id, name, parsed)


def _wire_message(message: Message, names: FunctionNames) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content or ""}
    wire: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": names.function(call.name), "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return wire


def _wire_tool(tool: ToolSpec, names: FunctionNames) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": names.function(tool.name),
            "description": tool.description,
            "parameters": tool.input_schema,
        },
    }


def _content(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: keep the text ones
        return "".join(part.get("text", "") for part in value if isinstance(part, dict)) or None
    raise ModelError("malformed chat completion: message.content is neither text nor parts")


def _error_excerpt(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:_EXCERPT] or "(empty body)"
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message if message is not None else body)[:_EXCERPT]
