"""Calibration on the real exports, through the pipeline's own stages (issue #5's ECE target).

X Education's conversion rate moves between periods (0.379 / 0.446 / 0.353), so the anchoring base rate
matters; Maven is fictional and has no signal, so the calibration must fall back to the base rate and say so.
Each runs pull -> validate -> featurize -> train -> the evaluate stage's scoring of the test period on the
shipped config, like the quality benchmark. Skipped when the datasets are not on this machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.quality import DATASETS, ProductRun, load_dataset_params, run_product
from leadscore.core import canonical
from leadscore.features.dataset import SPLIT_COLUMN
from leadscore.features.split import TEST
from leadscore.monitoring.calibration import expected_calibration_error

REPO = Path(__file__).resolve().parents[2]
needs_datasets = pytest.mark.skipif(
    not (REPO.parent / "shared" / "datasets" / "x_education_leads" / "Leads.csv").exists(),
    reason="public lead datasets not found under ../shared/datasets",
)


def _run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prior: str | None = None
) -> tuple[ProductRun, float]:
    monkeypatch.chdir(REPO)  # the configs' file paths are relative to the repository root
    params = load_dataset_params(DATASETS[name], None)
    if prior is not None:
        params = params.model_copy(update={"calibrate": params.calibrate.model_copy(update={"prior": prior})})
    run = run_product(params, tmp_path / (prior or "default"))
    y = run.frame.loc[run.frame[SPLIT_COLUMN] == TEST, canonical.LABEL].to_numpy(dtype=np.float64)
    return run, expected_calibration_error(y, run.p_test, 10, "quantile")


@needs_datasets
def test_x_education_is_anchored_between_the_validation_and_history_rates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, ece = _run("x_education", tmp_path, monkeypatch)
    calibration = run.train_metrics["calibration"]
    prior = calibration["prior"]
    assert calibration["method"] != "constant"
    assert prior["chosen"] == "blend"
    assert 0.3 < prior["weight"] < 0.9  # neither rate alone forecast the next period best
    assert prior["history_rate"] < prior["level"] < prior["validation_rate"]
    assert len(run.train_metrics["ensemble"]) == 5  # the config's seed ensemble
    # Issue #5's target at the shipped seed (met with 7 of 8 seeds, README "Model quality against baselines"),
    # and the mix beats the validation rate alone.
    assert ece <= 0.03
    _, ece_validation_rate = _run("x_education", tmp_path, monkeypatch, prior="validation")
    assert ece < ece_validation_rate


@needs_datasets
def test_maven_without_signal_gets_the_base_rate_and_a_no_skill_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, ece = _run("maven", tmp_path, monkeypatch)
    metrics = run.train_metrics
    assert metrics["calibration"]["method"] == "constant"
    assert any(w.startswith("no skill:") for w in metrics["warnings"])
    assert np.ptp(run.p_test) == 0.0  # one probability for every test lead: no ranking made up from noise
    assert run.p_test[0] == pytest.approx(metrics["calibration"]["prior"]["level"], abs=5e-5)
    assert ece <= 0.03
