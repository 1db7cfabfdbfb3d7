"""A refreshed export retrains on `dvc repro`; an unchanged one re-runs nothing (files and SQL sources).

The real `dvc repro` in a throw-away copy of the project: the `fingerprint` stage runs every time, `pull` and
everything after it only when the export's fingerprint changed.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leadscore.cli.main import main as leadscore_main
from leadscore.core.params import load_params
from leadscore.crm.simulator import export_time
from tests.project_fixtures import copy_project, run_in_project, write_small_params

pytestmark = pytest.mark.slow

CODE = ["pipelines", "features", "models", "serving", "leadscore", "dvc.yaml", "params.yaml"]
RETRAINING = ("pull", "validate", "featurize", "train", "evaluate", "register")


def _dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_in_project(project, [str(Path(sys.executable).parent / "dvc"), *args], DVC_NO_ANALYTICS="1")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    return result


def _ran(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [s for s in ("fingerprint", *RETRAINING, "report") if f"Running stage '{s}'" in result.stdout]


def _simulate(project: Path, seed: int, *target: str) -> None:
    argv = ["simulate", *target, "--params", str(project / "params.yaml"), "--n-leads", "4000"]
    assert leadscore_main([*argv, "--seed", str(seed)]) == 0


def _use_source(project: Path, source: dict[str, object]) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    exported = export_time(load_params(str(project / "params.yaml")).simulate)
    source["label"] = {**params["source"]["label"], "reference_time": exported.isoformat()}
    source["mapping"] = params["source"]["mapping"]
    params["source"].update(source)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    copy_project(root, CODE)
    _dvc(root, "init", "-q")
    write_small_params(root, evaluate__max_ece=0.1)
    return root


def test_files_export_overwritten_retrains_and_unchanged_reruns_nothing(project: Path) -> None:
    export = project / "export"
    _simulate(project, 11, "--out", str(export))
    _use_source(project, {"kind": "files", "files": {"leads": "export/leads.csv"}})
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["source"]["mapping"]["activities"]["path"] = "export/activities.csv"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert set(_ran(_dvc(project, "repro"))) >= set(RETRAINING)

    unchanged = _dvc(project, "repro")
    assert _ran(unchanged) == ["fingerprint"]
    assert "Stage 'pull' didn't change" in unchanged.stdout

    _simulate(project, 12, "--out", str(export))  # a refreshed export written over the old one
    refreshed = _dvc(project, "repro")
    assert set(RETRAINING) <= set(_ran(refreshed)), refreshed.stdout[-3000:]


def test_sql_table_changed_reruns_pull_and_unchanged_does_not(project: Path) -> None:
    db = project / "crm.db"
    _simulate(project, 11, "--sqlite", str(db))
    _use_source(project, {"kind": "sql", "sql": {"url": "sqlite:///crm.db", "leads_table": "leads"}})
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["source"]["mapping"]["activities"] = {
        **params["source"]["mapping"]["activities"],
        "table": "activities",
    }
    params["source"]["mapping"]["activities"].pop("path", None)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert set(RETRAINING) <= set(_ran(_dvc(project, "repro")))

    assert _ran(_dvc(project, "repro")) == ["fingerprint"]  # same tables: nothing after the fingerprint

    with sqlite3.connect(db) as connection:  # the CRM records a new activity
        lead = connection.execute("SELECT lead_id, occurred_at FROM activities LIMIT 1").fetchone()
        connection.execute(
            "INSERT INTO activities (lead_id, occurred_at, activity_type) VALUES (?, ?, 'email_open')", lead
        )
    _dvc(project, "repro", "fingerprint")
    status = _dvc(project, "status").stdout
    assert "pull:" in status, status
    assert "modified: data/source/fingerprint.json" in " ".join(status.split()), status
