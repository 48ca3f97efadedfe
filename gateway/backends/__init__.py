"""Backend adapters: what actually performs a tool call once every stage has let it through."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.backends.client import UpstreamClient
from gateway.backends.http import HttpBackend
from gateway.backends.python import PythonBackend, ToolFailure
from gateway.config import ToolSpec
from gateway.results import ToolResult


class Backend(Protocol):
    async def invoke(self, arguments: dict[str, Any], notes: dict[str, Any]) -> ToolResult:
        """Perform the call; a business error is a result with ``is_error``, a fault raises BackendError."""
        ...


def build_backend(spec: ToolSpec, http_client: UpstreamClient) -> Backend:
    """The adapter for ``spec.backend``; imports and checks happen here, once, at load."""
    if spec.backend.type == "python":
        return PythonBackend(spec, spec.backend)
    return HttpBackend(spec, spec.backend, http_client)


__all__ = ["Backend", "HttpBackend", "PythonBackend", "ToolFailure", "UpstreamClient", "build_backend"]
