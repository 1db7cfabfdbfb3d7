"""End-to-end: the real `dvc repro` on a small simulated CRM, in a throw-away copy of the project.

This is the data scientist's workflow from issue #2: repro ends with a registered champion, a second repro is
a no-op, changing one param re-runs only what depends on it, and a corrupt export stops `validate` with one
readable line while the champion stays exactly where it was. (Each kind of corrupt export is covered, fast and
without DVC, by test_validate_stage.py; this file proves the DVC-level consequence once.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.project_fixtures import copy_project, run_in_project, write_small_params

pytestmark = pytest.mark.slow

STAGES = ("pull", "validate", "featurize", "train", "evaluate", "register", "report")
CODE = ["pipelines", "features", "models", "serving", "leadscore", "dvc.yaml", "params.yaml"]


def _dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_in_project(project, [str(Path(sys.executable).parent / "dvc"), *args], DVC_NO_ANALYTICS="1")


def _champion_version(project: Path) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlruns' / 'mlflow.db'}")
    return str(client.get_model_version_by_alias("lead_scorer", "champion").version)


def _write_params(project: Path, **overrides: object) -> None:
    # 4000 leads leave ~600 test leads: the default ECE gate could fail by sampling noise; this test is about
    # the workflow, the quality figures are checked on the default 50k leads (README, benchmarks).
    write_small_params(project, evaluate__max_ece=0.1, **overrides)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    copy_project(root, CODE)
    assert _dvc(root, "init", "-q").returncode == 0
    _write_params(root)
    return root


def test_repro_ends_with_registered_champion(project: Path) -> None:
    result = _dvc(project, "repro")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert _champion_version(project) == "1"
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert 0.5 < metrics["auc"] <= 1.0
    assert (project / "reports" / "plots" / "png").is_dir()
    assert json.loads((project / "reports" / "lift.json").read_text())  # the decile table, a DVC output
    assert list((project / "reports" / "quarterly").glob("*.html"))


def test_no_pii_reaches_mlflow_or_the_model_artifacts(project: Path) -> None:
    """The simulated export carries contact_name, email and phone; none of it may be stored anywhere after it.

    Every file MLflow stored (run artifacts, the registered pyfunc with its bundle, reference frame and spec),
    the bundle and the reference frame are scanned byte-wise for the PII column names and the PII values'
    shapes (``contact<i>@example.com``, ``+1-555-...``).
    """
    from leadscore.core.params import load_params
    from leadscore.crm.sources import read_export

    params = load_params(str(project / "params.yaml"))
    raw, _ = read_export(params.source, params.simulate, params.base.seed, params.base.as_of_offset_days)
    assert {"contact_name", "email", "phone"} <= set(raw.columns)  # the export really has PII to leak
    names = [str(v) for v in raw["contact_name"].head(200)]
    needles = ["@example.com", "+1-555-", *names]
    roots = [project / "mlruns", project / "data" / "model", project / "data" / "reference"]
    files = [f for root in roots for f in root.rglob("*") if f.is_file()]
    assert any(f.name == "bundle.joblib" for f in files)
    assert any("artifacts" in f.parts and f.suffix == ".parquet" for f in files)
    for path in files:
        if path.suffix == ".parquet":  # compressed: compare the decoded columns and values
            frame = pd.read_parquet(path)
            assert not {"contact_name", "email", "phone"} & set(frame.columns), path
            text = "\n".join(map(str, frame.select_dtypes(exclude="number").stack().unique()))
        else:
            text = path.read_bytes().decode("latin-1")
        for needle in needles:
            assert needle not in text, f"{needle!r} found in {path}"


def test_second_repro_is_a_no_op(project: Path) -> None:
    """Nothing changed, so only the export's fingerprint is re-computed (its speed is a benchmark figure)."""
    result = _dvc(project, "repro")
    assert result.returncode == 0, result.stderr[-2000:]
    assert [line for line in result.stdout.splitlines() if line.startswith("Running stage")] == [
        "Running stage 'fingerprint':"
    ]
    assert "Stage 'pull' didn't change, skipping" in result.stdout
    assert _dvc(project, "status").stdout.split() == ["fingerprint:", "always", "changed"]
    assert _champion_version(project) == "1"


def test_metrics_show_prints_the_metrics(project: Path) -> None:
    result = _dvc(project, "metrics", "show", "--json")
    assert result.returncode == 0, result.stderr
    assert '"auc"' in result.stdout


def test_changing_a_train_param_reruns_only_dependent_stages(project: Path) -> None:
    _write_params(project, train__num_leaves=7)
    result = _dvc(project, "repro")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    out = result.stdout
    assert "Stage 'pull' didn't change" in out
    assert "Stage 'validate' didn't change" in out
    assert "Stage 'featurize' didn't change" in out
    for stage in ("train", "evaluate", "register", "report"):
        assert f"Running stage '{stage}'" in out, out[-3000:]
    # And a report-only param re-runs the report alone.
    _write_params(project, train__num_leaves=7, report__min_segment_count=150)
    result = _dvc(project, "repro")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    ran = [stage for stage in STAGES if f"Running stage '{stage}'" in result.stdout]
    assert ran == ["report"], result.stdout[-3000:]


def test_corrupt_export_stops_validate_and_keeps_champion(project: Path) -> None:
    champion_before = _champion_version(project)
    leads = pd.read_parquet(project / "data" / "interim" / "leads.parquet").head(800)
    corrupt = pd.concat([leads, leads.head(5)])  # duplicate lead ids
    corrupt["outcome"] = corrupt["outcome"].astype(object)
    export = project / "export.csv"
    corrupt.drop(columns=["outcome", "label"]).to_csv(export, index=False)
    _write_params(
        project,
        train__num_leaves=7,
        report__min_segment_count=150,
        source__kind="files",
        source__files={"leads": str(export)},
    )
    result = _dvc(project, "repro")
    assert result.returncode != 0
    assert "validate: error: validation failed" in result.stderr
    assert "lead_id" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Running stage 'train'" not in result.stdout
    assert _champion_version(project) == champion_before
