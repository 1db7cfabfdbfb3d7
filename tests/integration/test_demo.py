"""The README's main job (`make run`: the demo) end to end on a small simulated CRM, in a project copy.

Real `dvc repro`, real MLflow registry, real uvicorn on 127.0.0.1: the demo must end with exit 0, a summary
naming the champion, realized accuracy read back from the service, and the quarterly report's paths; a broken
pipeline must end with exit 2 and one line quoting dvc's error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.project_fixtures import copy_project, run_in_project, write_small_params

pytestmark = pytest.mark.slow

CODE = [
    "pipelines",
    "features",
    "models",
    "serving",
    "leadscore",
    "dvc.yaml",
    "params.yaml",
    ".dvc",
    ".dvcignore",
]


def _copy_project(root: Path, **overrides: object) -> None:
    copy_project(root, CODE)
    write_small_params(root, **overrides)


def _demo(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "leadscore.pipelines.demo", "--sample", "120", *args]
    return run_in_project(root, argv, PYTHONPATH=str(root))


def test_demo_runs_pipeline_service_and_report_end_to_end(tmp_path: Path) -> None:
    _copy_project(tmp_path)
    result = _demo(tmp_path)
    assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-2000:]
    out = result.stdout
    assert "champion: lead_scorer v1" in out
    assert "/v1/accuracy: ok on 120 leads" in out
    assert "outcomes posted: 120 (inserted 120, updated 0, unknown 0)" in out
    report_line = next(line for line in out.splitlines() if line.startswith("quarterly report: "))
    html = tmp_path / report_line.split()[2]
    assert html.exists()
    assert html.suffix == ".html"
    assert json.loads(html.with_suffix(".json").read_text())["quarter"]
    assert (tmp_path / ".leadscore" / "demo-service-report.html").read_text().startswith("<!DOCTYPE html>")
    # The key file holds the hash only, under the gitignored state folder; no key or PII in the output.
    keys = json.loads((tmp_path / ".leadscore" / "demo_api_keys.json").read_text())
    assert all(len(k["sha256"]) == 64 for k in keys["keys"])
    assert "lsk_" not in out + result.stderr
    assert "@" not in out
    # The service stopped: its log ends with uvicorn's shutdown, not a crash.
    assert "Traceback" not in (tmp_path / ".leadscore" / "demo-service.log").read_text()


def test_demo_reports_a_failed_repro_in_one_line(tmp_path: Path) -> None:
    _copy_project(tmp_path, validate__min_rows=10_000_000)
    result = _demo(tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("demo: error: dvc repro failed (exit")
    assert "validate" in last
