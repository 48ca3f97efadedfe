"""Models behind one small interface (base.py): an OpenAI-compatible adapter and a scripted model."""

from __future__ import annotations

from collections.abc import Mapping

from agent_runtime.models.base import Model, ModelError, ModelTurn, ToolSpec
from agent_runtime.models.openai_compat import OpenAICompatModel
from agent_runtime.models.scripted import ScriptedModel, load_script

__all__ = ["Model", "ModelError", "ModelTurn", "OpenAICompatModel", "ScriptedModel", "ToolSpec", "load_model"]


def load_model(spec: str, env: Mapping[str, str]) -> Model:
    """``scripted:NAME`` (a built-in script or a .yaml/.json file) or ``openai:MODEL`` (settings from ``env``)."""
    kind, _, name = spec.partition(":")
    if not name:
        raise ModelError(f"model {spec!r}: write scripted:NAME or openai:MODEL")
    if kind == "scripted":
        return ScriptedModel(load_script(name))
    if kind == "openai":
        return OpenAICompatModel.from_env(name, env)
    raise ModelError(f"model {spec!r}: unknown kind {kind!r} (scripted or openai)")
