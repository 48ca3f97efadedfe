"""Everything the scrub stage needs, compiled from one configuration; problems become ConfigErrors with a line.

Built with the runtime (at load and at each reload, off the request path), so a bad custom recognizer or
an unknown entity type stops startup, or leaves the running configuration in force, naming the file,
the line and the JSON path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import Config, ConfigError
from gateway.config.loader import line_of
from gateway.pii.actions import Replacer
from gateway.pii.detector import Detector, RecognizerProblem, known_entities
from gateway.pii.recognizers_ner import NER_ENTITIES
from gateway.pii.rules import PiiRules
from gateway.pii.scrubber import Scrubber


@dataclass(frozen=True, slots=True)
class PiiRuntime:
    """One configuration's detector, rules and scrubber."""

    detector: Detector
    rules: PiiRules
    scrubber: Scrubber


def build_pii(config: Config) -> PiiRuntime:
    settings = config.gateway.pii
    gateway_path = config.config_dir / "policies" / "gateway.yaml"
    rules = PiiRules(settings, config.tools)
    custom = {spec.entity for spec in settings.recognizers}
    for entity, path, parts in _named(config, gateway_path):
        if entity not in custom and entity not in known_entities():
            known = ", ".join(sorted(known_entities()))
            message = f"unknown PII entity type {entity}; known: {known}, or a custom recognizer's entity"
            raise _error(path, parts, message)
        if entity in NER_ENTITIES and entity not in custom and settings.nlp_model is None:
            message = f"{entity} is found by an NER model: set pii.nlp_model (e.g. en_core_web_sm, installed)"
            raise _error(path, parts, message)
    try:
        detector = Detector(
            rules.entities | custom,
            settings.recognizers,
            score_threshold=settings.score_threshold,
            allow_list=settings.allow_list,
            nlp_model=settings.nlp_model,
        )
    except RecognizerProblem as exc:
        index = next((i for i, spec in enumerate(settings.recognizers) if spec.name == exc.name), None)
        where: list[Any] = ["pii", "recognizers"] if index is None else ["pii", "recognizers", index]
        raise _error(gateway_path, where, str(exc)) from None
    except ValueError as exc:  # the configured NER model is not installed, or cannot be loaded
        where = ["pii", "nlp_model"] if settings.nlp_model is not None else ["pii"]
        raise _error(gateway_path, where, str(exc)) from None
    replacer = Replacer(mask_keep=settings.mask_keep, key=settings.hash_key)
    scrubber = Scrubber(
        detector, replacer, max_text_chars=settings.max_text_chars, truncate=settings.over_budget == "truncate"
    )
    return PiiRuntime(detector=detector, rules=rules, scrubber=scrubber)


def _named(config: Config, gateway_path: Path) -> Iterator[tuple[str, Path, list[Any]]]:
    """Every entity type the configuration gives an action, with where it is named."""
    settings = config.gateway.pii
    for entity in settings.defaults:
        yield entity, gateway_path, ["pii", "defaults", entity]
    for index, rule in enumerate(settings.rules):
        for entity in rule.entities:
            yield entity, gateway_path, ["pii", "rules", index, "entities", entity]
    for spec in config.tools.values():
        if spec.pii is not None:
            for direction, actions in (("arguments", spec.pii.arguments), ("result", spec.pii.result)):
                for entity in actions:
                    yield entity, spec.source, ["pii", direction, entity]


def _error(path: Path, parts: list[Any], message: str) -> ConfigError:
    json_path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return ConfigError(path, message, json_path=json_path, line=line_of(path, parts))
