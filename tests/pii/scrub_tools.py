"""In-process tools and a config dir for the scrubbing tests: what a backend received, what it returned.

``t.inbound`` answers with the arguments it received and lets every type through on the way out, so a
response shows exactly what the arguments direction left of them. ``t.outbound`` receives its arguments
as sent and answers with them, so a response shows what the result direction made of them.
``t.text`` answers with plain text (no structured content); ``t.fail`` fails with its argument in the
exception; ``t.echo_http`` goes through the HTTP adapter to the demo backends' echo route.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

#: Every type the shipped defaults scrub, and the custom one the test configuration adds.
CORE_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS")
ALLOW_ALL = {entity: "allow" for entity in CORE_TYPES}
#: An API key of a principal in a second tenant (support-agent in globex).
GLOBEX_KEY = "cg_test_globex_support_key_0123456789"


#: How many times each tool's backend ran (the tests' gateways run in threads of this process).
CALLS: dict[str, int] = {}


async def echo(**arguments: Any) -> dict[str, Any]:
    CALLS["echo"] = CALLS.get("echo", 0) + 1
    return {"received": arguments}


async def echo_text(text: str = "") -> str:
    return text


async def fail(message: str = "") -> dict[str, Any]:
    raise RuntimeError(message)


def _tool(name: str, callable_: str, pii: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "description": f"test tool {name}",
        "input_schema": {"type": "object"},
        "backend": {"type": "python", "callable": callable_},
        **extra,
    }
    if pii is not None:
        spec["pii"] = pii
    return spec


def pii_config_dir(dest: Path, pii: dict[str, Any] | None = None, tools: list[dict[str, Any]] | None = None) -> Path:
    """The shipped configuration with ``pii`` as gateway.yaml's section (None: none at all) and the test tools."""
    for part in ("policies", "tool_specs"):
        shutil.copytree(REPO_ROOT / part, dest / part, dirs_exist_ok=True)
    settings_path = dest / "policies" / "gateway.yaml"
    settings = yaml.safe_load(settings_path.read_text())
    settings.pop("pii", None)
    if pii is not None:
        settings["pii"] = pii
    settings["principals"]["api_keys"].append(
        {
            "subject": "globex-bot",
            "tenant": "globex",
            "roles": ["support-agent"],
            "sha256": hashlib.sha256(GLOBEX_KEY.encode()).hexdigest(),
        }
    )
    settings_path.write_text(yaml.safe_dump(settings, sort_keys=False))
    all_tools = [
        _tool("t.inbound", "tests.pii.scrub_tools:echo", {"result": ALLOW_ALL}),
        _tool("t.outbound", "tests.pii.scrub_tools:echo", {"arguments": ALLOW_ALL}),
        _tool("t.text", "tests.pii.scrub_tools:echo_text", {"arguments": ALLOW_ALL}),
        _tool("t.fail", "tests.pii.scrub_tools:fail", {"arguments": ALLOW_ALL}),
        *(tools or []),
    ]
    for spec in all_tools:
        (dest / "tool_specs" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    with (dest / "policies" / "policy.csv").open("a") as policy:
        policy.write("\np, support-agent, *, t.*, call, allow\np, sales-agent, acme, t.*, call, allow\n")
    return dest


def result_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert "result" in body, body
    result: dict[str, Any] = body["result"]
    return result
