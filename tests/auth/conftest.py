"""Config directories for the authentication tests: a writable copy of the shipped one, with issuers added."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def edit_gateway_yaml(config_dir: Path, *issuers: dict[str, Any], replace: bool = False, **server: Any) -> Path:
    """Add JWT issuers to (or, with ``replace``, set them in) gateway.yaml; ``server`` settings are merged."""
    path = config_dir / "policies" / "gateway.yaml"
    data = yaml.safe_load(path.read_text())
    kept = [] if replace else data["principals"].get("jwt", [])
    data["principals"]["jwt"] = [*kept, *issuers]
    if not data["principals"]["jwt"]:
        del data["principals"]["jwt"]
    data["server"] = {key: value for key, value in {**data["server"], **server}.items() if value is not None}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
