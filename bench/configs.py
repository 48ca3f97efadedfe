"""Configurations the benchmark runs on: the shipped one, with rate limits out of the load's reach."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

#: A GCRA limit no benchmark reaches: a billion calls at once, a billion per second.
PLENTY = {"requests": 1_000_000_000, "per_s": 1, "burst": 1_000_000_000}


def unlimited_copy(repo_root: Path, dest: Path) -> Path:
    """A copy of the shipped configuration in ``dest`` whose every rate limit is raised out of reach.

    The limits are still checked on every call (the same buckets: each principal's budget and
    initialize allowance, per agent and tool, per tool, per tenant), so the budget and rate-limit
    stages and their store cost what they cost; they just never refuse.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for part in ("policies", "tool_specs"):
        shutil.copytree(repo_root / part, dest / part, dirs_exist_ok=True)
    settings_path = dest / "policies" / "gateway.yaml"
    settings = yaml.safe_load(settings_path.read_text())
    limits = settings.get("rate_limits", {})
    settings["rate_limits"] = {
        "budget": PLENTY,
        "initialize": PLENTY,
        "roles": {role: PLENTY for role in (limits.get("roles") or {"*": None})},
        "tenants": {tenant: PLENTY for tenant in (limits.get("tenants") or {"*": None})},
    }
    settings_path.write_text(yaml.safe_dump(settings))
    for spec_path in (dest / "tool_specs").glob("*.yaml"):
        spec = yaml.safe_load(spec_path.read_text())
        if "requests" in spec.get("rate_limit", {}):
            spec["rate_limit"].update(PLENTY)
            spec_path.write_text(yaml.safe_dump(spec))
    return dest
