"""The python backend: an async callable imported once at load."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.backends.python import PythonBackend, ToolFailure
from gateway.config import ConfigError, PythonBackendSpec, ToolSpec
from gateway.errors import BackendBadResponse


async def greet(name: str) -> dict[str, Any]:
    return {"greeting": f"hello {name}"}


async def refuse(**_: Any) -> None:
    raise ToolFailure("no such customer")


async def explode(**_: Any) -> None:
    raise RuntimeError("internal detail that must not leak")


async def own_timeout(**_: Any) -> None:
    async with asyncio.timeout(0):
        await asyncio.sleep(30)


async def opaque(**_: Any) -> Any:
    return {"handle": object()}


def not_async() -> None:
    pass


def backend_for(target: str) -> PythonBackend:
    spec = PythonBackendSpec(callable=target)
    tool = ToolSpec("t", "d", {"type": "object"}, spec, Path("t.yaml"))
    return PythonBackend(tool, spec)


async def test_result_becomes_structured_content() -> None:
    result = await backend_for(f"{__name__}:greet").invoke({"name": "Ada"}, {})
    assert result.structured == {"greeting": "hello Ada"}
    assert not result.is_error


async def test_tool_failure_is_a_tool_error_result() -> None:
    result = await backend_for(f"{__name__}:refuse").invoke({}, {})
    assert result.is_error
    assert "no such customer" in result.content[0]["text"]


async def test_unexpected_exception_is_a_bad_response_that_leaks_nothing() -> None:
    with pytest.raises(BackendBadResponse) as caught:
        await backend_for(f"{__name__}:explode").invoke({}, {})
    assert "internal detail" not in str(caught.value)


async def test_a_timeout_the_tool_raises_itself_is_a_bad_response_not_the_gateways_timeout() -> None:
    """The deadline stage alone decides when a call has timed out (tests/stages/test_deadline.py)."""
    with pytest.raises(BackendBadResponse):
        await backend_for(f"{__name__}:own_timeout").invoke({}, {})


def test_sync_or_missing_callable_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an async function"):
        backend_for(f"{__name__}:not_async")
    with pytest.raises(ConfigError, match="cannot import"):
        backend_for(f"{__name__}:nowhere")


async def test_result_that_is_not_json_is_a_bad_response() -> None:
    with pytest.raises(BackendBadResponse):
        await backend_for(f"{__name__}:opaque").invoke({}, {})
