"""The ``http`` backend: a tool call becomes one request to a configured URL.

Path placeholders are filled from arguments and percent-encoded, so an argument
can never change the host or climb out of the path; the remaining arguments go
in the JSON body or the query string. Secrets in headers come from the
environment at load. Redirects are not followed, the response is read up to a
size limit, and the whole exchange is bounded by the tool's deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from gateway.config import ConfigError, HttpBackendSpec, ToolSpec
from gateway.errors import BackendBadResponse, BackendTimeout, InvalidParams
from gateway.pipeline import ToolResult

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ERROR_TEXT_LIMIT = 2000


class HttpBackend:
    def __init__(self, spec: ToolSpec, backend: HttpBackendSpec, client: httpx.AsyncClient) -> None:
        self._client = client
        self._method = backend.method
        self._template = backend.url
        self._args_in = backend.args
        self._headers = dict(backend.headers)
        self._max_bytes = backend.max_response_bytes
        self._timeout = spec.timeout_s
        self._httpx_timeout = httpx.Timeout(spec.timeout_s)
        self._path_names = tuple(_PLACEHOLDER.findall(backend.url))
        target = urlsplit(_PLACEHOLDER.sub("x", backend.url))
        self._origin = (target.scheme, target.netloc)
        required = set(spec.input_schema.get("required", ()))
        missing = [name for name in self._path_names if name not in required]
        if missing:
            raise ConfigError(spec.source, f"URL placeholders {missing} must be required properties of input_schema")

    async def invoke(self, arguments: dict[str, Any], notes: dict[str, Any]) -> ToolResult:
        url = self._url(arguments)
        rest = {k: v for k, v in arguments.items() if k not in self._path_names}
        request = self._client.build_request(
            self._method,
            url,
            params=_query(rest) if self._args_in == "query" and rest else None,
            json=rest if self._args_in == "json" else None,
            headers=self._headers,
            timeout=self._httpx_timeout,
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.send(request, stream=True)
                try:
                    body = await self._read_limited(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise BackendTimeout() from None
        except httpx.TransportError:
            raise BackendBadResponse("Backend unreachable") from None
        notes["backend_status"] = response.status_code
        return self._result(response, body)

    def _url(self, arguments: dict[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            return _path_segment(match.group(1), arguments.get(match.group(1)))

        url = _PLACEHOLDER.sub(fill, self._template)
        target = urlsplit(url)
        if (target.scheme, target.netloc) != self._origin:  # cannot happen with encoded segments; kept as a guard
            raise InvalidParams("Arguments would change the backend host")
        return url

    async def _read_limited(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise BackendBadResponse("Backend response too large")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self._max_bytes:
                raise BackendBadResponse("Backend response too large")
        return bytes(body)

    def _result(self, response: httpx.Response, body: bytes) -> ToolResult:
        status = response.status_code
        if status >= 500 or 300 <= status < 400 or status < 200:
            raise BackendBadResponse(data={"backend_status": status})
        value = _decode(response, body)
        if status >= 400:
            if isinstance(value, str):
                value = value[:_ERROR_TEXT_LIMIT]
            return ToolResult.from_value({"status": status, "error": value}, is_error=True)
        return ToolResult.from_value(value if value != "" else {})


def _path_segment(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise InvalidParams(f"Argument {name!r} must be a non-empty string or number to fill the URL")
    text = str(value)
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _query(arguments: dict[str, Any]) -> list[tuple[str, str | int | float | bool | None]]:
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in arguments.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, bool):
                pairs.append((key, "true" if item else "false"))
            elif isinstance(item, dict | list):
                pairs.append((key, json.dumps(item, separators=(",", ":"))))
            else:
                pairs.append((key, str(item)))
    return pairs


def _decode(response: httpx.Response, body: bytes) -> Any:
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            return json.loads(body)
        except ValueError:
            raise BackendBadResponse("Backend sent malformed JSON") from None
    return body.decode("utf-8", errors="replace")
