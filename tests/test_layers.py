"""Every import arrow points down: no cycles in gateway/ or agent_runtime/, and the agent stays apart.
And the tests mirror the packages (one test module per stage).

The graph is read from the source with :mod:`ast`, not by importing it, so an import under
``if TYPE_CHECKING:`` or inside a function counts as an arrow like any other: a dataclass a lower
floor needs belongs on that floor, not behind a guard.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("gateway", "agent_runtime")
#: The only parts of gateway that may drive the agent runtime: the command line (``callgate agent run``)
#: and the demo, which show the two together. The gateway itself never imports it.
MAY_USE_THE_AGENT = ("gateway.cli", "gateway.demo")


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name, for its ``__init__``)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def imported_names(name: str, path: Path) -> Iterator[str]:
    """The dotted names ``path`` imports anywhere in its source, relative imports resolved.

    A ``from`` import yields each name it imports behind its module: a submodule, or a name in one.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # ``from gateway.store import memory`` imports the submodule itself; ``from gateway.store
            # import Store`` the package (the name is stripped off again when it is no module).
            yield from (f"{module}.{alias.name}" for alias in node.names)


def import_graph(known: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """Module -> the modules of ``known`` (default: the packages') it imports.

    Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so those count as arrows
    too, except a module's own parent packages (which Python has already begun to import).
    """
    known = modules() if known is None else known
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        own = set(_ancestors(name))
        targets: set[str] = set()
        for imported in imported_names(name, path):
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if not imported:
                continue
            targets.add(imported)
            targets.update(parent for parent in _ancestors(imported) if parent in known and parent not in own)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle for each group of modules that import each other (strongly connected)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph is small enough to recurse
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_shortest_cycle(graph, group) for group in groups]


def _shortest_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph[node] & group):
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise AssertionError(f"{sorted(group)} is strongly connected yet has no cycle through {start}")


def test_the_import_graph_has_no_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (move the shared definitions a floor down):\n" + "\n".join(
        " -> ".join(cycle) for cycle in found
    )


def test_a_cycle_hidden_under_type_checking_is_found(tmp_path: Path) -> None:
    """The check itself: an arrow under ``if TYPE_CHECKING:`` closes a cycle as surely as any other."""
    (tmp_path / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import X\n"
    )
    (tmp_path / "high.py").write_text("from . import low\n")
    graph = import_graph({"pkg.low": tmp_path / "low.py", "pkg.high": tmp_path / "high.py"})
    assert graph == {"pkg.low": {"pkg.high"}, "pkg.high": {"pkg.low"}}
    assert cycles(graph) == [["pkg.high", "pkg.low", "pkg.high"]]


def test_the_agent_runtime_imports_nothing_of_the_gateway() -> None:
    """The agent talks to the gateway over MCP/JSON-RPC only: it shares no code with it."""
    graph = import_graph()
    imports = {name: sorted(t for t in targets if t.startswith("gateway")) for name, targets in graph.items()}
    assert {name: found for name, found in imports.items() if name.startswith("agent_runtime") and found} == {}


def test_only_the_command_line_and_the_demo_drive_the_agent_runtime() -> None:
    graph = import_graph()
    users = {
        name
        for name, targets in graph.items()
        if name.startswith("gateway") and any(target.startswith("agent_runtime") for target in targets)
    }
    assert {name for name in users if not name.startswith(MAY_USE_THE_AGENT)} == set()


def test_every_stage_has_its_own_test_module() -> None:
    """Tests mirror the package: tests/stages/test_authorize.py tests gateway/stages/authorize.py."""
    stages = {path.stem for path in (REPO_ROOT / "gateway" / "stages").glob("*.py") if path.stem != "__init__"}
    tested = {path.stem.removeprefix("test_") for path in (REPO_ROOT / "tests" / "stages").glob("test_*.py")}
    assert stages - tested == set()
