"""The ``http`` backend: a tool call becomes one request to a configured URL.

Path placeholders are filled from arguments and percent-encoded, so an argument
can never change the host or climb out of the path; the remaining arguments go
in the JSON body or the query string. Secrets in headers come from the
environment at load. Redirects are not followed and the response is read up to
a size limit. The tool's deadline is not kept here but by the deadline stage,
which bounds the whole call (queueing and retries included) with one clock.

Failures another attempt may not meet (no connection, a connection dropped
before any response, 502/503/504) are raised as
:class:`~gateway.errors.BackendTransient`, the only ones the retry stage retries.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from gateway.backends.client import UpstreamClient
from gateway.config import ConfigError, HttpBackendSpec, ToolSpec
from gateway.errors import BackendBadResponse, BackendTransient, InvalidParams
from gateway.jsoncodec import DecodeError, dumps, loads
from gateway.results import ToolResult

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ERROR_TEXT_LIMIT = 2000
#: Gateway, proxy or backend saying "not now": worth another attempt, unlike any other 5xx.
_TRANSIENT_STATUS = frozenset({502, 503, 504})


class HttpBackend:
    def __init__(self, spec: ToolSpec, backend: HttpBackendSpec, client: UpstreamClient) -> None:
        self._client = client
        self._method = backend.method
        self._args_in = backend.args
        self._headers = dict(backend.headers)
        if backend.args == "json":
            self._headers.setdefault("Content-Type", "application/json")
        self._max_bytes = backend.max_response_bytes
        # The template split once: literal, name, literal, name, ..., literal. The schema keeps
        # placeholders out of the scheme and host, and every filled segment is percent-encoded
        # (no "/", "?", "#", "@" or ":" survives), so an argument can never reach the authority.
        self._parts = _PLACEHOLDER.split(backend.url)
        self._path_names = tuple(self._parts[1::2])
        self._static_url = None if self._path_names else URL(backend.url, encoded=True)
        required = set(spec.input_schema.get("required", ()))
        missing = [name for name in self._path_names if name not in required]
        if missing:
            raise ConfigError(spec.source, f"URL placeholders {missing} must be required properties of input_schema")

    async def invoke(self, arguments: dict[str, Any], notes: dict[str, Any]) -> ToolResult:
        # encoded=True: the URL is sent exactly as built; yarl would otherwise decode %2E%2E and drop dot segments.
        url = self._static_url or URL(self._url(arguments), encoded=True)
        rest = {k: v for k, v in arguments.items() if k not in self._path_names} if arguments else arguments
        params = _query(rest) if self._args_in == "query" and rest else None
        body = dumps(rest) if self._args_in == "json" else None
        status = 0  # until the response's head arrives
        try:
            async with self._client.session.request(
                self._method, url, params=params, data=body, headers=self._headers, allow_redirects=False
            ) as response:
                status = notes["backend_status"] = response.status
                payload = await self._read_limited(response)
        except aiohttp.ClientError as exc:
            if status == 0 and _is_connection_failure(exc):
                raise BackendTransient("Backend unreachable") from None
            raise BackendBadResponse("Backend unreachable") from None
        return self._result(status, response.headers.get("Content-Type", ""), payload)

    def _url(self, arguments: dict[str, Any]) -> str:
        parts = self._parts
        filled = [parts[0]]
        for index in range(1, len(parts), 2):
            filled.append(_path_segment(parts[index], arguments.get(parts[index])))
            filled.append(parts[index + 1])
        return "".join(filled)

    async def _read_limited(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, decompressed, refused as soon as it passes the limit (a compressed bomb included)."""
        declared = response.content_length
        if declared is not None and declared > self._max_bytes:
            raise BackendBadResponse("Backend response too large")
        if declared is not None and "Content-Encoding" not in response.headers:
            return await response.read()  # the declared length is what arrives: already within the limit
        body = bytearray()
        async for chunk in response.content.iter_chunked(65_536):
            body += chunk
            if len(body) > self._max_bytes:
                raise BackendBadResponse("Backend response too large")
        return bytes(body)

    def _result(self, status: int, content_type: str, body: bytes) -> ToolResult:
        if status in _TRANSIENT_STATUS:
            raise BackendTransient(data={"backend_status": status})
        if status >= 500 or 300 <= status < 400 or status < 200:
            raise BackendBadResponse(data={"backend_status": status})
        value = _decode(content_type, body)
        if status >= 400:
            if isinstance(value, str):
                value = value[:_ERROR_TEXT_LIMIT]
            return ToolResult.from_value({"status": status, "error": value}, is_error=True)
        return ToolResult.from_value(value if value != "" else {})


def _is_connection_failure(exc: aiohttp.ClientError) -> bool:
    """No connection could be made, or it broke before any answer began: no status, nothing to read.

    Not a TLS or certificate failure (another attempt meets the same), and not one of aiohttp's own
    timeouts (callgate sets none; the deadline stage alone decides when a call has taken too long).
    """
    return isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
        exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch | TimeoutError
    )


def _path_segment(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise InvalidParams(f"Argument {name!r} must be a non-empty string or number to fill the URL")
    text = str(value)
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _query(arguments: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in arguments.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, bool):
                pairs.append((key, "true" if item else "false"))
            elif isinstance(item, dict | list):
                pairs.append((key, dumps(item).decode()))
            else:
                pairs.append((key, str(item)))
    return pairs


def _decode(content_type: str, body: bytes) -> Any:
    if "json" in content_type:
        try:
            return loads(body)
        except DecodeError:
            raise BackendBadResponse("Backend sent malformed JSON") from None
    return body.decode("utf-8", errors="replace")
