"""One stage run on its own: the real tool registry of a configuration, a call to hand it, what came out.

The tools a test adds run in process (the ``python`` backend) through :func:`echo`, so a stage is
exercised with real compiled schemas and a real backend adapter, and no network.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.auth import Principal
from gateway.backends import ToolFailure, UpstreamClient
from gateway.config import Config, load_config
from gateway.pipeline import NO_META, CallMeta, ToolCall, ToolResult
from gateway.tools import ToolRegistry
from tests.conftest import REPO_ROOT
from tests.stages.backends import config_dir

SUPPORT = Principal("support-bot", "acme", ("support-agent",), method="api_key")
#: A test tool's backend: ``echo`` below.
ECHO = "backend: {type: python, callable: 'tests.stages.calls:echo'}\n"


async def echo(value: Any = None, fail: str | None = None, sleep_s: float = 0.0) -> Any:
    """Answers ``value``; ``fail="tool"`` is a business error, ``fail="crash"`` a fault in the tool."""
    if sleep_s:
        await asyncio.sleep(sleep_s)
    if fail == "tool":
        raise ToolFailure("no such thing")
    if fail == "crash":
        raise RuntimeError("the tool broke")
    return value


def shipped(audit_dir: Path) -> Config:
    return load_config(REPO_ROOT, env={"CALLGATE_AUDIT_DIR": str(audit_dir)})


def with_tools(root: Path, tools: dict[str, str]) -> Config:
    """The shipped configuration plus ``tools`` (name: the rest of its spec), callable by support agents."""
    return load_config(config_dir(root / "config", tools), env={"CALLGATE_AUDIT_DIR": str(root / "audit")})


def registry(config: Config) -> ToolRegistry:
    # In-process tools never touch the upstream pool, and it opens no connection until an HTTP tool is called.
    return ToolRegistry(config, UpstreamClient())


def tool_call(
    tool: str,
    arguments: dict[str, Any] | None = None,
    *,
    principal: Principal = SUPPORT,
    resolved: ToolRegistry | None = None,
    params_error: str | None = None,
    meta: CallMeta = NO_META,
) -> ToolCall:
    """A call of ``tool``; with ``resolved``, as the resolve stage hands it on (its tool looked up)."""
    call = ToolCall("r-1", principal, tool, arguments or {}, "rpc", params_error=params_error, meta=meta)
    if resolved is not None:
        found = resolved.get(tool)
        assert found is not None, f"{tool} is not in the registry"
        call = call.with_tool(found)
    return call


class Recorder:
    """The handler after the stage under test: remembers each call that reached it and answers ``result``."""

    def __init__(self, result: ToolResult | None = None) -> None:
        self.calls: list[ToolCall] = []
        self.result = result or ToolResult.from_value({"ok": True})

    async def __call__(self, call: ToolCall) -> ToolResult:
        self.calls.append(call)
        return self.result
