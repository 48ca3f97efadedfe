"""The /metrics exposition of a live gateway passes ``promtool check metrics`` after the demo's traffic."""

from __future__ import annotations

import asyncio
import subprocess

import httpx

from gateway.config import load_config
from gateway.demo.script import JWT_AGENT, _steps
from gateway.demo.tokens import mint_demo_token
from tests.conftest import REPO_ROOT, RunningGateway
from tests.ops.tools import require_tool


def test_the_exposition_after_the_demo_traffic_passes_promtool(gateway: RunningGateway) -> None:
    promtool = require_tool("promtool", "make test installs Debian's prometheus package")
    keys = dict(gateway.keys)
    config = load_config(REPO_ROOT)
    keys[JWT_AGENT] = mint_demo_token(config, "crm-assistant", tenant="acme", roles=["support-agent"])
    asyncio.run(_steps(gateway.url, keys, lambda line: None))
    exposition = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert 'callgate_tool_calls_total{decision="refused"' in exposition  # the story's refusals are in it
    completed = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
