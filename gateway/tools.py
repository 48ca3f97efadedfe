"""The tool registry: every tool spec compiled once, at load, into what the request path needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.backends import Backend, UpstreamClient, build_backend
from gateway.config import Config, ToolSpec
from gateway.validation import SchemaValidator


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool ready to serve: its spec, compiled validators, backend adapter and MCP listing."""

    spec: ToolSpec
    validator: SchemaValidator
    output_validator: SchemaValidator | None
    backend: Backend
    listing: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name


class ToolRegistry:
    def __init__(self, config: Config, http_client: UpstreamClient) -> None:
        self._tools = {name: _compile(spec, http_client) for name, spec in config.tools.items()}

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)


def _compile(spec: ToolSpec, http_client: UpstreamClient) -> Tool:
    listing: dict[str, Any] = {"name": spec.name, "description": spec.description, "inputSchema": spec.input_schema}
    if spec.title:
        listing["title"] = spec.title
    if spec.output_schema:
        listing["outputSchema"] = spec.output_schema
    listing["annotations"] = {
        "readOnlyHint": spec.idempotent and spec.risk == "low",
        "idempotentHint": spec.idempotent,
        "destructiveHint": spec.risk == "high",
        "openWorldHint": False,
    }
    return Tool(
        spec=spec,
        validator=SchemaValidator(spec.input_schema),
        output_validator=SchemaValidator(spec.output_schema) if spec.output_schema else None,
        backend=build_backend(spec, http_client),
        listing=listing,
    )
