"""The evaluate stage's main() on a small simulated project in tmp_path, with a bundle from
leadscore.models.fit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leadscore.core.errors import ModelQualityError
from leadscore.core.params import EvaluateParams
from leadscore.models.bundle import ScoringBundle
from leadscore.monitoring.metrics import roc_auc
from leadscore.pipelines.evaluate import band_table, main, quality_gate
from tests.registry_fixtures import TinyWorld, tiny_world_fixture  # noqa: F401


def _project(world: TinyWorld, root: Path, bundle: str = "good", **evaluate: object) -> list[str]:
    """Lay out data/interim, data/processed, data/model and params.yaml; return main()'s argv."""
    (root / "data" / "interim").mkdir(parents=True)
    (root / "data" / "processed").mkdir(parents=True)
    world.leads.to_parquet(root / "data" / "interim" / "leads.parquet", index=False)
    world.activities.to_parquet(root / "data" / "interim" / "activities.parquet", index=False)
    world.frame.to_parquet(root / "data" / "processed" / "features.parquet", index=False)
    shutil.copytree(world.bundles[bundle], root / "data" / "model")
    params = {"base": {"seed": 3}, "evaluate": {"bootstrap_samples": 50, **evaluate}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return [
        "--interim",
        str(root / "data" / "interim"),
        "--processed",
        str(root / "data" / "processed"),
        "--model",
        str(root / "data" / "model"),
        "--reports",
        str(root / "reports"),
        "--reference",
        str(root / "data" / "reference"),
        "--params",
        str(root / "params.yaml"),
    ]


@pytest.fixture(scope="module")
def evaluated(tiny_world: TinyWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    main(_project(tiny_world, root))
    return root


def test_metrics_json_is_flat_numbers_with_the_headline_keys(evaluated: Path, tiny_world: TinyWorld) -> None:
    metrics = json.loads((evaluated / "reports" / "metrics.json").read_text())
    for key in (
        "auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "ks",
        "calibration_slope",
        "top_decile_lift",
        "base_rate",
        "n_test",
        "bayes_auc",
        "auc_gap_to_bayes",
        "auc_ci_low",
        "auc_ci_high",
        "mql_precision",
        "ece_noise_p95",
        "n_excluded_columns",
        "cold_start",
    ):
        assert key in metrics, key
    assert all(isinstance(v, int | float) for v in metrics.values())
    n_test = int((tiny_world.frame["split"] == "test").sum())
    assert metrics["n_test"] == n_test
    assert metrics["n_excluded_columns"] == 0
    assert metrics["cold_start"] == 0
    assert metrics["no_skill"] == 0
    assert 0.6 < metrics["auc"] <= metrics["bayes_auc"] + 0.05
    assert metrics["auc_ci_low"] < metrics["auc"] < metrics["auc_ci_high"]
    assert metrics["auc_gap_to_bayes"] == pytest.approx(metrics["bayes_auc"] - metrics["auc"], abs=2e-6)


def test_reference_frame_holds_bundle_scores_of_the_test_leads(
    evaluated: Path, tiny_world: TinyWorld
) -> None:
    reference = pd.read_parquet(evaluated / "data" / "reference" / "reference.parquet")
    assert len(reference) == len(tiny_world.test_leads)
    for column in ("lead_id", "probability", "score", "band", "is_mql", "label", "industry"):
        assert column in reference.columns
    for forbidden in ("outcome", "status", "closed_at", "true_p"):
        assert forbidden not in reference.columns
    bundle = ScoringBundle.load(tiny_world.bundles["good"])
    assert set(bundle.feature_names) <= set(reference.columns)
    # One feature path: the stage's probabilities are exactly bundle.score on the canonical test leads.
    expected = bundle.score(tiny_world.test_leads, tiny_world.test_activities, with_reasons=False)
    merged = reference.merge(expected[["lead_id", "probability"]], on="lead_id", suffixes=("", "_direct"))
    np.testing.assert_allclose(merged["probability"], merged["probability_direct"], rtol=0, atol=1e-12)
    metrics = json.loads((evaluated / "reports" / "metrics.json").read_text())
    assert roc_auc(reference["label"], reference["probability"]) == pytest.approx(metrics["auc"], abs=1e-6)


def test_plots_and_lift_table_are_written(evaluated: Path) -> None:
    plots = evaluated / "reports" / "plots"
    for name, fields in {
        "roc.json": {"fpr", "tpr"},
        "pr.json": {"recall", "precision"},
        "calibration.json": {"mean_predicted", "fraction_positive", "count"},
        "gains.json": {"share_of_leads", "share_of_conversions"},
    }.items():
        records = json.loads((plots / name).read_text())
        assert set(records[0]) == fields
    for png in ("roc", "pr", "calibration", "gains", "lift"):
        assert (plots / "png" / f"{png}.png").read_bytes().startswith(b"\x89PNG")
    lift = json.loads((evaluated / "reports" / "lift.json").read_text())
    assert [row["decile"] for row in lift] == list(range(1, 11))
    assert lift[-1]["cumulative_gain"] == pytest.approx(1.0)
    assert lift[0]["lift"] > 1.5


def test_missed_quality_gate_exits_2_with_one_line_after_writing_metrics(
    tiny_world: TinyWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _project(tiny_world, tmp_path, min_auc=0.99)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "evaluate: error: model misses the quality gate: test AUC" in err
    assert "evaluate.min_auc 0.99" in err
    assert "Traceback" not in err
    assert (tmp_path / "reports" / "metrics.json").exists()  # the evidence stays for inspection


def test_missing_bundle_is_one_readable_line(
    tiny_world: TinyWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _project(tiny_world, tmp_path)
    shutil.rmtree(tmp_path / "data" / "model")
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "evaluate: error: no scoring bundle at" in capsys.readouterr().err


def test_quality_gate_names_every_missed_threshold() -> None:
    params = EvaluateParams(min_auc=0.7, max_ece=0.03)
    with pytest.raises(ModelQualityError, match=r"AUC 0\.6500 < evaluate\.min_auc 0\.7.*ECE 0\.0800"):
        quality_gate({"auc": 0.65, "ece": 0.08}, params)
    with pytest.raises(ModelQualityError, match="only one outcome class"):
        quality_gate({"auc": float("nan"), "ece": 0.0}, params)
    quality_gate({"auc": 0.75, "ece": 0.02}, params)  # passes silently
    with pytest.raises(
        ModelQualityError, match=r"AUC 0\.5000 < evaluate\.min_auc 0\.7 \(no skill: .*base rate"
    ):
        quality_gate({"auc": 0.5, "ece": 0.01, "no_skill": 1}, params)


def test_quality_gate_forgives_ece_within_sampling_noise() -> None:
    params = EvaluateParams(min_auc=0.6, max_ece=0.05)
    quality_gate({"auc": 0.8, "ece": 0.06, "ece_noise_p95": 0.07}, params)  # 500 leads: noise
    with pytest.raises(ModelQualityError, match=r"ECE 0\.0600 > evaluate\.max_ece 0\.05 \(and > 0\.0100"):
        quality_gate({"auc": 0.8, "ece": 0.06, "ece_noise_p95": 0.01}, params)


def test_band_table_keeps_empty_bands() -> None:
    table = band_table(
        ["A", "B", "C"], np.array(["A", "A", "C", "C"], dtype=object), np.array([1.0, 0, 0, 0])
    )
    assert table["n"].tolist() == [2, 0, 2]
    assert table.loc[0, "win_rate"] == 0.5
    assert table.loc[0, "lift"] == pytest.approx(2.0)
