"""One import root, layers that only look down, no cycles (tests/import_graph.py draws the graph)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.import_graph import ROOT, Edge, ImportGraph, build_graph


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return build_graph()


def test_no_package_imports_a_higher_layer_or_a_sibling(graph: ImportGraph) -> None:
    assert graph.backward() == []


def test_no_import_cycle_between_modules(graph: ImportGraph) -> None:
    assert graph.cycles() == []


def test_the_graph_checker_sees_a_backward_import_and_a_cycle(graph: ImportGraph) -> None:
    planted = ImportGraph(modules=dict(graph.modules), edges=list(graph.edges))
    planted.edges.append(Edge("leadscore.features.build", "leadscore.serving.app", 1))
    planted.edges.append(Edge("leadscore.models.bundle", "leadscore.features.build", 1))
    planted.edges.append(Edge("leadscore.features.build", "leadscore.models.bundle", 1))
    assert Edge("leadscore.features.build", "leadscore.serving.app", 1) in planted.backward()
    assert any({"leadscore.features.build", "leadscore.models.bundle"} <= set(c) for c in planted.cycles())


def test_every_module_is_in_a_layer(graph: ImportGraph) -> None:
    assert [m for m in graph.modules if graph.layer_of(m) < 0] == ["leadscore"]


def test_no_code_imports_a_bare_top_level_name(graph: ImportGraph) -> None:
    assert graph.bare == []
    bare = re.compile(
        r"^\s*(from|import)\s+(features|models|serving|pipelines)\b|-m\s+(features|models|serving|pipelines)\."
    )
    offenders = []
    for folder in ("tests", "benchmarks", "notebooks", "configs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".ipynb", ".yaml"}:
                for number, line in enumerate(path.read_text().splitlines(), 1):
                    if bare.search(line.replace('"', " ").replace("\\n", "")):
                        offenders.append(f"{path.relative_to(ROOT)}:{number}")
    for name in ("dvc.yaml", "Makefile", ".ci/run"):
        offenders += [
            f"{name}: {line}" for line in (ROOT / name).read_text().splitlines() if bare.search(line)
        ]
    assert offenders == []


@pytest.mark.parametrize("name", ["features", "models", "serving", "pipelines"])
def test_the_bare_package_name_does_not_import_even_from_the_repository_root(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert f"import leadscore.{name}, not {name}" in done.stderr


def test_the_installed_names_import() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import leadscore.features, leadscore.models, leadscore.serving, leadscore.pipelines",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
