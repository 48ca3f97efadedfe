"""Gateway tool names as OpenAI function names, both ways.

Tool names carry dots (``crm.get_customer``); function names allow only
``[a-zA-Z0-9_-]{1,64}``. Each disallowed character becomes ``_`` and long names
are cut; when two names would meet (``crm.get_customer`` and
``crm_get_customer``), or a name had to be cut, each such name instead ends in
an 8-hex-digit digest of the original, so the mapping does not depend on the
order the tools were listed in and never joins two tools.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")
_MAX = 64


class FunctionNames:
    def __init__(self, tool_names: Iterable[str]) -> None:
        names = sorted(set(tool_names))
        plain = {name: _ALLOWED.sub("_", name) or "_" for name in names}
        counts: dict[str, int] = {}
        for candidate in plain.values():
            counts[candidate] = counts.get(candidate, 0) + 1
        self._to_function: dict[str, str] = {}
        for name in names:
            candidate = plain[name]
            if counts[candidate] > 1 or len(candidate) > _MAX:
                candidate = _digested(name, candidate, set(plain.values()))
            self._to_function[name] = candidate
        self._to_tool = {function: tool for tool, function in self._to_function.items()}
        if len(self._to_tool) != len(self._to_function):  # pragma: no cover - needs a digest collision
            raise ValueError("tool names cannot be mapped to distinct function names")

    def function(self, tool_name: str) -> str:
        """The function name for a tool (one not listed is mapped on the fly, the same way)."""
        known = self._to_function.get(tool_name)
        return known if known is not None else _digested(tool_name, _ALLOWED.sub("_", tool_name), set())

    def tool(self, function_name: str) -> str:
        """The tool a function name stands for; an unknown one is passed through, so the gateway refuses it."""
        return self._to_tool.get(function_name, function_name)


def _digested(name: str, candidate: str, taken: set[str]) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    for length in range(8, 65, 4):
        suffix = "_" + digest[:length]
        mapped = candidate[: _MAX - len(suffix)] + suffix
        if mapped not in taken:
            return mapped
    raise ValueError(f"no function name for tool {name!r}")  # pragma: no cover - needs a digest collision
