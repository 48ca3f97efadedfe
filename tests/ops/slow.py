"""A tool that takes as long as it is told, and the configuration that serves it (for shutdown tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.conftest import copy_shipped_config

SLOW_TOOL = "ops.wait"

SPEC = f"""\
# Waits, then answers: an in-flight call that a graceful shutdown must let finish.
name: {SLOW_TOOL}
description: Waits for the given number of seconds, then answers.
timeout_s: 60
input_schema:
  type: object
  properties:
    seconds: {{type: number, minimum: 0, maximum: 60}}
  required: [seconds]
  additionalProperties: false
backend:
  type: python
  callable: tests.ops.slow:wait
"""


async def wait(seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {"waited_s": seconds}


def slow_config(root: Path, **server: Any) -> Path:
    """The shipped configuration, no file watching, plus the slow tool for the support agent."""
    config_dir = copy_shipped_config(root / "config")
    (config_dir / "tool_specs" / f"{SLOW_TOOL}.yaml").write_text(SPEC)
    with (config_dir / "policies" / "policy.csv").open("a") as policy:
        policy.write(f"\np, support-agent, acme, {SLOW_TOOL}, call, allow\n")
    gateway_yaml = config_dir / "policies" / "gateway.yaml"
    settings = "".join(f"  {name}: {value}\n" for name, value in {"watch_config": "false", **server}.items())
    gateway_yaml.write_text(gateway_yaml.read_text().replace("server:\n", "server:\n" + settings, 1))
    return config_dir


def wait_call(seconds: float, id: int = 1) -> dict[str, Any]:
    params = {"name": SLOW_TOOL, "arguments": {"seconds": seconds}}
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}
