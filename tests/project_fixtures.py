"""A throw-away copy of the project for end-to-end tests (`dvc repro`, the demo) with small-data params.

The copy holds only the code and pipeline definition, never data or caches, so each run starts from the
real pull stage; the params shrink the simulated CRM so the whole pipeline fits in a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def copy_project(root: Path, names: Iterable[str]) -> None:
    """Copy ``names`` (files or folders, missing ones skipped) from the repository into ``root``; git init."""
    for name in names:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        elif src.exists():
            shutil.copy(src, root / name)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)


def write_small_params(project: Path, **overrides: object) -> None:
    """The repository's params.yaml with a 4000-lead CRM and few bootstrap samples, plus ``overrides``.

    Overrides are ``section__key=value`` (nested with more ``__``), e.g. ``train__num_leaves=7``.
    """
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulate"]["n_leads"] = 4000
    params["simulate"]["days"] = 540
    params["report"]["bootstrap_samples"] = 20
    params["evaluate"]["bootstrap_samples"] = 20
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_in_project(project: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the project copy with this venv's tools first on PATH (plus ``env``); capture text."""
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(argv, cwd=project, env=full_env, capture_output=True, text=True, timeout=900)
