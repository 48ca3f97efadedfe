"""The demo's API keys, read from ``policies/demo-keys.env`` (demo only; gateway.yaml holds their hashes)."""

from __future__ import annotations

from pathlib import Path


def read_demo_keys(config_dir: Path) -> dict[str, str]:
    """Role name (``support-agent``) to key, from ``CALLGATE_DEMO_KEY_<ROLE>=<key>`` lines."""
    keys: dict[str, str] = {}
    path = config_dir / "policies" / "demo-keys.env"
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("CALLGATE_DEMO_KEY_"):
            keys[name.removeprefix("CALLGATE_DEMO_KEY_").lower().replace("_", "-")] = value.strip()
    return keys
