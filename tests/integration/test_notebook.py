"""The exploration notebook: stored without outputs, defines nothing, runs top to bottom on a small export.

Executed with nbclient on a kernel of this very interpreter (the project's .venv): the kernelspec is written
to a temporary Jupyter data directory, so nothing depends on a user-level Jupyter set-up or the network.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "leadscore-test"


def test_there_is_an_exploration_notebook() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01-explore-simulated-crm-and-model.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], cell.source[:60]
            assert cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_nothing(path: Path) -> None:
    """Functions, classes and lambdas belong in the packages, where they are tested; cells only call them."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        defined = [
            type(node).__name__
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
        ]
        assert defined == [], cell.source[:80]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_on_a_small_export(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipykernel.kernelspec import install
    from nbclient import NotebookClient

    data_dir = Path(install(kernel_name=KERNEL, prefix=str(tmp_path))).parents[1]  # .../share/jupyter
    monkeypatch.setenv("JUPYTER_PATH", str(data_dir))
    monkeypatch.setenv("LEADSCORE_NOTEBOOK_N_LEADS", "3000")
    # The suite sets Agg for itself; the kernel must draw inline so that figures become outputs.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=300,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    # The kernel really was this interpreter, and the run produced the figures and tables it promises.
    spec = (data_dir / "kernels" / KERNEL / "kernel.json").read_text()
    assert sys.executable in spec
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "3,000 leads" in text
