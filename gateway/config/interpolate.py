"""``${NAME}`` and ``${NAME:-default}`` in configuration strings, filled from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariable(Exception):
    """A string names an environment variable that is unset and has no default."""

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        super().__init__(f"environment variable {name} is not set and has no default")


def interpolate(value: Any, env: Mapping[str, str], path: str = "$") -> Any:
    """A copy of ``value`` with every reference in its strings replaced; ``$${`` escapes a literal."""
    if isinstance(value, str):
        return _fill(value, env, path)
    if isinstance(value, dict):
        return {key: interpolate(item, env, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def _fill(text: str, env: Mapping[str, str], path: str) -> str:
    if "${" not in text:
        return text
    escaped = text.split("$${")

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found:
            return found
        if default is not None:
            return default
        raise MissingVariable(name, path)

    return "${".join(_REFERENCE.sub(replace, part) for part in escaped)
