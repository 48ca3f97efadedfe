"""The ``python`` backend: an importable async callable, imported once at load.

The tool's deadline is kept by the deadline stage, which cancels the callable
when it passes. A ``TimeoutError`` the callable raises itself is its own failure
(a bad response), not callgate's deadline. Nothing here is marked for retry: an
in-process tool that fails has a bug, not a passing network fault.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.config import ConfigError, PythonBackendSpec, ToolSpec
from gateway.errors import BackendBadResponse
from gateway.results import ToolResult

log = logging.getLogger("callgate.backends")


class ToolFailure(Exception):
    """Raised by an in-process tool for a business error the model should see and correct."""


class PythonBackend:
    def __init__(self, spec: ToolSpec, backend: PythonBackendSpec) -> None:
        self._name = spec.name
        self._function = _import(spec, backend.callable)

    async def invoke(self, arguments: dict[str, Any], notes: dict[str, Any]) -> ToolResult:
        try:
            value = await self._function(**arguments)
        except ToolFailure as failure:
            return ToolResult.from_value({"error": str(failure)}, is_error=True)
        except Exception as exc:
            # The exception's type and where it was raised, not its message: that may quote the arguments.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{frame.filename}:{frame.lineno}"
            log.error("in-process tool %s failed: %s at %s", self._name, type(exc).__name__, where)
            raise BackendBadResponse() from None
        if isinstance(value, ToolResult):
            return value  # the tool built its own MCP content blocks (images, audio, resources)
        try:
            return ToolResult.from_value(value if value is not None else {})
        except (TypeError, ValueError):
            log.error("in-process tool %s returned a value that is not JSON", self._name)
            raise BackendBadResponse() from None


def _import(spec: ToolSpec, target: str) -> Callable[..., Awaitable[Any]]:
    module_name, _, attribute = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(spec.source, f"cannot import {target}: {exc}", json_path="$.backend.callable") from None
    if not inspect.iscoroutinefunction(function):
        raise ConfigError(spec.source, f"{target} is not an async function", json_path="$.backend.callable")
    return function  # type: ignore[no-any-return]


__all__ = ["PythonBackend", "ToolFailure"]
