"""One configuration file read and checked: YAML, environment variables filled in, its JSON Schema.

Any problem is a :class:`ConfigError` naming the file, the line and the JSON path; loader.py
reads each file of a config directory through :func:`read_checked`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from gateway.config.interpolate import MissingVariable, interpolate

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(Exception):
    """A configuration file is missing, malformed or invalid."""

    def __init__(self, file: Path, message: str, *, line: int | None = None, json_path: str | None = None):
        self.file = file
        self.line = line
        self.json_path = json_path
        self.detail = message
        where = f"{file}:{line}" if line is not None else str(file)
        at = f" at {json_path}" if json_path and json_path != "$" else ""
        super().__init__(f"{where}{at}: {message}")


def read_checked(path: Path, validator: Draft202012Validator, env: Mapping[str, str]) -> dict[str, Any]:
    """``path`` as YAML, with ``${VAR}`` filled in from ``env``, checked against ``validator``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read: {exc}") from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader, the C one when present)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(path, problem, line=mark.line + 1 if mark else None) from None
    if raw is None:
        raw = {}
    try:
        data = interpolate(raw, env)
    except MissingVariable as exc:
        raise ConfigError(path, str(exc), json_path=exc.path) from None
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        error = _most_specific(errors[0])
        parts = list(error.absolute_path)
        raise ConfigError(path, error.message, json_path=json_path(parts), line=line_of(path, parts))
    if not isinstance(data, dict):  # the schemas require an object; this narrows the type
        raise ConfigError(path, "expected a mapping at the top level")
    return data


def _most_specific(error: ValidationError) -> ValidationError:
    """For a ``oneOf`` failure, the deepest error of the branch whose ``type`` matched.

    The backend is a ``oneOf`` discriminated by ``type``; "is not valid under any
    of the given schemas" helps nobody, "method: 'FETCH' is not one of ..." does.
    """
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        matching = [
            subs
            for subs in branches.values()
            if not any(sub.validator == "const" and list(sub.relative_path) == ["type"] for sub in subs)
        ]
        candidates = matching[0] if len(matching) == 1 else list(error.context)
        error = max(candidates, key=lambda sub: len(sub.absolute_path))
    return error


def json_path(parts: Sequence[Any]) -> str:
    """``parts`` (keys and indexes) as a JSON path: ``$.principals.jwt[0].audience``."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def line_of(path: Path, parts: list[Any]) -> int | None:
    """The 1-based line of the YAML node at ``parts``, or of its nearest existing parent."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return None
    if node is None:
        return None
    line: int = node.start_mark.line + 1
    for part in parts:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


@cache
def schema(name: str) -> Draft202012Validator:
    """The shipped JSON Schema ``name`` (gateway/config/schemas/), compiled once."""
    text = resources.files("gateway.config").joinpath("schemas", name).read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))
