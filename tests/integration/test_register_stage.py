"""The register stage module: quiet, writes reports/registry.json, store under the repo root."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leadscore.core.errors import SourceError
from leadscore.core.params import Params
from leadscore.pipelines.register import RegisterPaths, register
from tests.registry_fixtures import TinyWorld, tiny_world_fixture  # noqa: F401


def _stage_inputs(world: TinyWorld, root: Path, bundle: str) -> RegisterPaths:
    """The files the earlier stages leave behind, laid out as in the repository."""
    paths = RegisterPaths(
        bundle=root / "data/model",
        metrics=root / "reports/metrics.json",
        plots=root / "reports/plots",
        validation_summary=root / "reports/validation/summary.json",
        interim=root / "data/interim",
        processed=root / "data/processed",
        out=root / "reports/registry.json",
    )
    if paths.bundle.exists():
        shutil.rmtree(paths.bundle)
    shutil.copytree(world.bundles[bundle], paths.bundle)
    for directory in (
        paths.plots / "png",
        paths.validation_summary.parent,
        paths.interim,
        paths.processed,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps({"test": {"auc": 0.8, "brier": 0.12, "ece": 0.01}}))
    (paths.plots / "calibration.json").write_text(json.dumps({"calibration": [{"mean_predicted": 0.1}]}))
    (paths.plots / "png" / "calibration.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    paths.validation_summary.write_text(json.dumps({"success": True, "failed": []}))
    world.leads.to_parquet(paths.interim / "leads.parquet", index=False)
    world.activities.to_parquet(paths.interim / "activities.parquet", index=False)
    world.frame.to_parquet(paths.processed / "features.parquet", index=False)
    return paths


def test_register_stage_is_quiet_and_records_the_champion(tiny_world: TinyWorld, tmp_path: Path) -> None:
    paths = _stage_inputs(tiny_world, tmp_path, "mid")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"registry": {"model_name": "lead_scorer"}}))
    done = subprocess.run(
        [sys.executable, "-m", "leadscore.pipelines.register"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no MLflow banners, links or emoji
    assert "Traceback" not in done.stderr
    assert "Downloading artifacts" not in done.stderr
    assert not any(ord(char) > 0x2000 for char in done.stderr), done.stderr
    report = json.loads(paths.out.read_text())
    assert (report["version"], report["alias"], report["champion_version"]) == ("1", "champion", "1")
    assert report["comparison"]["decision"] == "first_model"
    assert report["tracking_uri"] == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert set(report["timings_seconds"]) >= {"import_mlflow", "compare", "log_and_register", "stage_total"}
    assert (tmp_path / "mlruns" / "artifacts" / "models").is_dir()

    # Next training: a worse model on the same test period stays challenger.
    paths = _stage_inputs(tiny_world, tmp_path, "bad")
    report = register(Params(), paths, root=tmp_path)
    assert (report["version"], report["alias"], report["champion_version"]) == ("2", "challenger", "1")
    assert report["comparison"]["champion_value"] > report["comparison"]["new_value"]
    assert json.loads(paths.out.read_text()) == json.loads(json.dumps(report, default=str))


def test_register_without_the_feature_frame_says_which_stage_to_run(
    tiny_world: TinyWorld, tmp_path: Path
) -> None:
    paths = _stage_inputs(tiny_world, tmp_path, "mid")
    (paths.processed / "features.parquet").unlink()
    with pytest.raises(SourceError, match="'lead_id' and 'split' columns"):
        register(Params(), paths, root=tmp_path)
    assert not paths.out.exists()
