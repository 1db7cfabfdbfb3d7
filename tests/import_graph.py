"""The import graph of leadscore's packages: layers, backward imports and cycles.

Run ``python -m tests.import_graph`` for the counts; ``tests/unit/test_import_layers.py`` fails on any
backward import, any cycle or any bare top-level name. Every import counts, including those inside functions
and under ``TYPE_CHECKING``: a lazy import is still a dependency, and a cycle hidden in a function is still a
cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Folder on disk -> installed package (pyproject's package-dir); the design fixes these folders at the top.
SOURCE_FOLDERS = {
    "leadscore": "leadscore",
    "features": "leadscore.features",
    "models": "leadscore.models",
    "serving": "leadscore.serving",
    "pipelines": "leadscore.pipelines",
}
BARE_NAMES = ("features", "models", "serving", "pipelines")

# Lowest first. A package may import its own modules and any package of a lower layer; packages of one layer
# do not import each other (they are independent), except the entry points, which only the user calls.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel", ("leadscore.core",)),
    ("domain", ("leadscore.crm", "leadscore.validation", "leadscore.monitoring")),
    ("features", ("leadscore.features",)),
    ("models", ("leadscore.models",)),
    ("reporting", ("leadscore.reporting",)),
    ("serving", ("leadscore.serving",)),
    ("entry points", ("leadscore.pipelines", "leadscore.cli")),
)
ENTRY_LAYER = len(LAYERS) - 1


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` module imports ``target`` module at ``line``."""

    source: str
    target: str
    line: int


@dataclass
class ImportGraph:
    """Modules of the packages and the imports between them."""

    modules: dict[str, Path] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    bare: list[str] = field(default_factory=list)  # "path:line name" of imports of a bare top-level name

    def package_of(self, module: str) -> str:
        """The layered package a module belongs to (``leadscore.models.bundle`` -> ``leadscore.models``)."""
        for _, packages in LAYERS:
            for package in packages:
                if module == package or module.startswith(package + "."):
                    return package
        return module  # leadscore/__init__.py: the root holds nothing

    def layer_of(self, module: str) -> int:
        """Index of the module's layer in ``LAYERS`` (-1 for the empty root package)."""
        package = self.package_of(module)
        for index, (_, packages) in enumerate(LAYERS):
            if package in packages:
                return index
        return -1

    def backward(self) -> list[Edge]:
        """Imports of a higher layer, or of a sibling package of the same layer (entry points excepted)."""
        out = []
        for edge in self.edges:
            here, there = self.layer_of(edge.source), self.layer_of(edge.target)
            same_package = self.package_of(edge.source) == self.package_of(edge.target)
            if there > here or (there == here and not same_package and here != ENTRY_LAYER):
                out.append(edge)
        return out

    def cycles(self) -> list[list[str]]:
        """Strongly connected groups of more than one module (Tarjan), each sorted."""
        graph: dict[str, set[str]] = {m: set() for m in self.modules}
        for edge in self.edges:
            if edge.source != edge.target:
                graph[edge.source].add(edge.target)
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups: list[list[str]] = []

        def visit(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            for nxt in sorted(graph[node]):
                if nxt not in index:
                    visit(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.append(top)
                    if top == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        for node in sorted(graph):
            if node not in index:
                visit(node)
        return groups


def module_files() -> Iterator[tuple[str, Path]]:
    """(installed module name, file) of every module of the packages."""
    for folder, package in SOURCE_FOLDERS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            if "migrations" in path.relative_to(base).parts[:-1] and path.parent.name == "versions":
                continue  # Alembic revision scripts are loaded by Alembic, not imported
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join([package, *parts]), path


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` (a module or a module attribute) lies in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def build_graph() -> ImportGraph:
    """Read every module's imports (``ast``; nothing is imported or run)."""
    graph = ImportGraph(modules=dict(module_files()))
    for module, path in graph.modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module if is_package else module.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    prefix = f"{base}.{node.module}" if node.module else base
                else:
                    prefix = node.module or ""
                names = [f"{prefix}.{alias.name}" for alias in node.names] or [prefix]
            for name in names:
                if name.split(".")[0] in BARE_NAMES:
                    graph.bare.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
                target = _resolve(name, graph.modules)
                if target is not None and target != module:
                    graph.edges.append(Edge(module, target, node.lineno))
    return graph


def summary(graph: ImportGraph) -> str:
    """Counts per layer, backward imports and cycles, as printed by ``python -m tests.import_graph``."""
    pairs = {(e.source, e.target) for e in graph.edges}
    lines = [f"{len(graph.modules)} modules, {len(pairs)} importing pairs (module -> module)"]
    for index, (name, packages) in enumerate(LAYERS):
        count = sum(1 for m in graph.modules if graph.layer_of(m) == index)
        lines.append(f"  layer {index} {name}: {', '.join(packages)} ({count} modules)")
    backward, cycles = graph.backward(), graph.cycles()
    lines.append(f"backward imports: {len(backward)}")
    lines += [f"  {e.source}:{e.line} -> {e.target}" for e in backward]
    lines.append(f"cycles: {len(cycles)}")
    lines += ["  " + " <-> ".join(group) for group in cycles]
    lines.append(f"imports of a bare top-level name: {len(graph.bare)}")
    lines += [f"  {b}" for b in graph.bare]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(summary(build_graph()) + "\n")
