"""What tools share when they share a backend: the key naming a backend, and one object per backend.

The breaker's circuits and the concurrency limiters are per backend, not per
tool: tools calling one service share its circuit and its slots. A backend is
named by :func:`backend_key`; its settings are merged from every tool that
declares some (the strictest wins, whatever the file order), and a backend
none of whose tools declares any gets the defaults.

A configuration reload builds new stages, but a backend whose key and merged
settings did not change keeps its object: an open circuit stays open, and
calls still running under the old configuration keep holding their slots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from yarl import URL

from gateway.config import Config, ToolSpec

S = TypeVar("S")
T = TypeVar("T")


def backend_key(spec: ToolSpec) -> str:
    """What identifies a backend: its declared ``service``, else an HTTP URL's origin, or a callable's import path.

    One origin often fronts several services (an ingress routing /crm and /reports to different
    deployments); naming the service keeps one failing service from opening the others' circuit.
    """
    if spec.backend.type == "python":
        return "python:" + spec.backend.callable
    if spec.backend.service is not None:
        return "service:" + spec.backend.service
    return str(URL(spec.backend.url).origin())


class PerBackend(Generic[S, T]):
    """One ``T`` per backend of ``config``, built by ``build(key, settings)`` or kept from ``previous``."""

    def __init__(
        self,
        config: Config,
        *,
        settings_of: Callable[[ToolSpec], S | None],
        strictest: Callable[[S, S], S],
        default: S,
        build: Callable[[str, S], T],
        previous: PerBackend[S, T] | None = None,
    ) -> None:
        declared: dict[str, S | None] = {}
        keys: dict[str, str] = {}
        for spec in config.tools.values():
            key = keys[spec.name] = backend_key(spec)
            mine, merged = settings_of(spec), declared.get(key)
            declared[key] = mine if merged is None else merged if mine is None else strictest(merged, mine)
        self._by_key: dict[str, tuple[S, T]] = {}
        for key, settings in declared.items():
            effective = default if settings is None else settings
            kept = previous._by_key.get(key) if previous is not None else None
            unchanged = kept is not None and kept[0] == effective
            self._by_key[key] = kept if kept is not None and unchanged else (effective, build(key, effective))
        #: Tool name to its backend's object: what the stages look up on every call.
        self.by_tool: dict[str, T] = {name: self._by_key[key][1] for name, key in keys.items()}


__all__ = ["PerBackend", "backend_key"]
