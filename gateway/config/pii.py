"""The personal-data parts of the configuration: ``pii`` in gateway.yaml, ``pii`` and ``x-pii`` in tool specs.

The JSON Schemas have checked shapes and names by the time these run; what is
left is building the frozen settings, checking ``x-pii`` annotations (which
live inside the tools' own JSON Schemas, where the spec schema cannot reach),
and loading the ``hash`` action's key, only when some action is ``hash``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.config.model import (
    DEFAULT_PII_ACTIONS,
    PII_DIRECTIONS,
    GatewaySettings,
    PiiAction,
    PiiDirection,
    PiiPattern,
    PiiRecognizerSpec,
    PiiRule,
    PiiSettings,
    PiiToolOverrides,
    ToolSpec,
)
from gateway.keyfiles import KeyProblem, load_key

#: The environment variable holding the ``hash`` action's key (hex or base64, at least 32 bytes).
PII_KEY_VARIABLE = "CALLGATE_PII_KEY"
#: The key file's name in the audit directory when ``pii.key_file`` is not set.
PII_KEY_FILE = "pii.key"
#: The annotation a property of a tool's input or output schema may carry.
ANNOTATION = "x-pii"


class PiiProblem(Exception):
    """A PII setting is unusable; ``where`` is the JSON path below the file's root, as a list of parts."""

    def __init__(self, message: str, where: list[Any]) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def pii_settings(data: dict[str, Any], config_dir: Path) -> PiiSettings:
    """``pii`` from a schema-checked gateway.yaml (``{}`` when absent: the shipped defaults)."""
    defaults: dict[str, PiiAction] = dict(DEFAULT_PII_ACTIONS)
    defaults.update(data.get("defaults", {}))
    recognizers = tuple(_recognizer(entry) for entry in data.get("recognizers", []))
    for spec in recognizers:  # a custom type nobody gave an action is still scrubbed
        defaults.setdefault(spec.entity, "redact")
    key_file = data.get("key_file")
    base = PiiSettings()
    return PiiSettings(
        score_threshold=float(data.get("score_threshold", base.score_threshold)),
        max_text_chars=data.get("max_text_chars", base.max_text_chars),
        over_budget=data.get("over_budget", base.over_budget),
        allow_list=tuple(data.get("allow_list", ())),
        nlp_model=data.get("nlp_model"),
        mask_keep=data.get("mask_keep", base.mask_keep),
        defaults=defaults,
        recognizers=recognizers,
        rules=tuple(_rule(entry) for entry in data.get("rules", [])),
        key_file=None if key_file is None else _resolve(Path(key_file), config_dir),
    )


def _recognizer(entry: dict[str, Any]) -> PiiRecognizerSpec:
    return PiiRecognizerSpec(
        name=entry["name"],
        entity=entry["entity"],
        patterns=tuple(
            PiiPattern(regex=p["regex"], score=float(p["score"])) if "score" in p else PiiPattern(regex=p["regex"])
            for p in entry.get("patterns", [])
        ),
        context=tuple(entry.get("context", ())),
        deny_list=tuple(entry.get("deny_list", ())),
    )


def _rule(entry: dict[str, Any]) -> PiiRule:
    direction = entry.get("direction", "both")
    directions: tuple[PiiDirection, ...] = PII_DIRECTIONS if direction == "both" else (direction,)
    return PiiRule(
        tool=entry["tool"], entities=dict(entry["entities"]), roles=tuple(entry.get("roles", ())), directions=directions
    )


def tool_overrides(data: dict[str, Any]) -> PiiToolOverrides | None:
    """A tool spec's ``pii``, after its ``x-pii`` annotations are checked; raises :class:`PiiProblem`."""
    for key in ("input_schema", "output_schema"):
        if key in data:
            for where, value in _annotations(data[key], [key]):
                _check_annotation(value, where)
    pii = data.get("pii")
    if pii is None:
        return None
    return PiiToolOverrides(arguments=dict(pii.get("arguments", {})), result=dict(pii.get("result", {})))


def _annotations(schema: Any, where: list[Any]) -> Iterator[tuple[list[Any], Any]]:
    """Every ``x-pii`` in a schema, with its path, wherever it sits (so a misplaced one is checked too)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == ANNOTATION:
                yield [*where, key], value
            else:
                yield from _annotations(value, [*where, key])
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _annotations(value, [*where, index])


def _check_annotation(value: Any, where: list[Any]) -> None:
    if value == "none":
        return
    if (
        isinstance(value, list)
        and value
        and all(isinstance(item, str) and item.isupper() and item.replace("_", "").isalnum() for item in value)
    ):
        return
    raise PiiProblem("x-pii must be none or a non-empty list of entity types such as [EMAIL_ADDRESS]", where)


def check_named_entities(settings: PiiSettings, tools: Mapping[str, ToolSpec]) -> tuple[Path | None, list[Any]] | None:
    """Where an ``x-pii`` names a type no action configures (a typo would silently skip that field), or None."""
    configured = set(settings.entities)
    for spec in tools.values():
        if spec.pii is not None:
            configured.update(spec.pii.arguments)
            configured.update(spec.pii.result)
    for spec in tools.values():
        for key, schema in (("input_schema", spec.input_schema), ("output_schema", spec.output_schema)):
            for where, value in _annotations(schema or {}, [key]):
                if isinstance(value, list) and any(item not in configured for item in value):
                    return spec.source, where
    return None


def uses_hash(settings: PiiSettings, tools: Mapping[str, ToolSpec]) -> bool:
    """Whether any action anywhere is ``hash``: only then is a key needed (and a key file made)."""
    maps: list[Mapping[str, str]] = [settings.defaults, *(rule.entities for rule in settings.rules)]
    for spec in tools.values():
        if spec.pii is not None:
            maps += [spec.pii.arguments, spec.pii.result]
    return any("hash" in actions.values() for actions in maps)


def with_hash_key(gateway: GatewaySettings, tools: Mapping[str, ToolSpec], env: Mapping[str, str]) -> GatewaySettings:
    """``gateway`` with the hash key loaded when some action needs it; raises :class:`KeyProblem`."""
    settings = gateway.pii
    if not uses_hash(settings, tools):
        return gateway
    path = settings.key_file or gateway.audit.dir / PII_KEY_FILE
    return replace(gateway, pii=replace(settings, hash_key=load_key(env, PII_KEY_VARIABLE, path)))


def _resolve(path: Path, config_dir: Path) -> Path:
    return path if path.is_absolute() else config_dir / path


__all__ = [
    "ANNOTATION",
    "PII_KEY_FILE",
    "PII_KEY_VARIABLE",
    "KeyProblem",
    "PiiProblem",
    "check_named_entities",
    "pii_settings",
    "tool_overrides",
    "with_hash_key",
]
