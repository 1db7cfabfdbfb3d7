"""Drift monitors: PSI conventions, binning rules and the data-set verdict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from leadscore.monitoring import MonitoringInputError
from leadscore.monitoring.drift import (
    MISSING,
    OTHER,
    DriftMonitor,
    DriftThresholds,
    population_stability_index,
    score_drift,
)


def leads(
    n: int, seed: int, *, shift: float = 0.0, industry_p: tuple[float, float, float] = (0.2, 0.5, 0.3)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    employees = rng.lognormal(4.0 + shift, 1.0, n)
    employees[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "employees": employees,
            "industry": rng.choice(["retail", "software", "health"], n, p=list(industry_p)),
            "lead_source": rng.choice(["web", "event"], n),
            "probability": rng.beta(1, 8, n),
            "label": (rng.random(n) < 0.1).astype(int),
        }
    )


def test_psi_of_identical_samples_is_zero_and_of_a_known_shift_matches_the_formula() -> None:
    ref = np.array([0.5, 0.5])
    assert population_stability_index(ref, ref) == pytest.approx(0.0)
    cur = np.array([0.8, 0.2])
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert population_stability_index(ref, cur) == pytest.approx(expected)


def test_same_distribution_shows_no_drift() -> None:
    monitor = DriftMonitor().fit(leads(20_000, seed=0))
    result = monitor.calculate(leads(20_000, seed=1))
    assert set(result.features["feature"]) == {"employees", "industry", "lead_source"}  # ids/labels excluded
    assert (result.features["psi"] < 0.01).all()
    assert (result.features["verdict"] == "stable").all()
    assert not result.dataset_drift
    assert result.score is not None
    assert result.score["psi"] < 0.01


def test_shifted_numeric_feature_has_psi_above_act_threshold() -> None:
    monitor = DriftMonitor(["employees"]).fit(leads(20_000, seed=0))
    result = monitor.calculate(leads(20_000, seed=2, shift=1.0))
    row = result.features.iloc[0]
    assert row["psi"] > 0.25
    assert row["verdict"] == "significant"
    assert row["drifted"]
    assert row["wasserstein"] > 0.1
    assert result.dataset_drift  # 1 of 1 features


def test_changed_category_mix_is_flagged_with_the_category_that_moved() -> None:
    monitor = DriftMonitor(["industry", "lead_source"]).fit(leads(20_000, seed=0))
    result = monitor.calculate(leads(20_000, seed=3, industry_p=(0.7, 0.2, 0.1)))
    rows = result.features.set_index("feature")
    assert rows.loc["industry", "drifted"]
    assert rows.loc["industry", "top_bin"] == "retail"
    assert rows.loc["industry", "top_bin_current_share"] == pytest.approx(0.7, abs=0.02)
    assert not rows.loc["lead_source", "drifted"]
    assert result.dataset_drift  # 1 of 2 features: half drifts
    assert result.drifted_features == ["industry"]


def test_unseen_categories_fall_into_other_and_missing_gets_its_own_bin() -> None:
    ref = pd.DataFrame({"industry": ["a", "b"] * 500})
    cur = pd.DataFrame({"industry": ["a"] * 500 + ["zzz"] * 300 + [None] * 200})
    result = DriftMonitor(["industry"]).fit(ref).calculate(cur)
    bins = result.bins["industry"].set_index("bin")
    assert bins.loc[OTHER, "current_count"] == 300
    assert bins.loc[MISSING, "current_count"] == 200
    assert bins.loc["b", "current_count"] == 0
    assert result.features.iloc[0]["current_missing_share"] == pytest.approx(0.2)
    assert np.isfinite(result.features.iloc[0]["psi"])  # epsilon smoothing keeps empty bins finite


def test_jump_in_missing_numeric_values_is_drift() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=5000)})
    cur_values = rng.normal(size=5000)
    cur_values[:2000] = np.nan
    result = DriftMonitor(["x"]).fit(ref).calculate(pd.DataFrame({"x": cur_values}))
    assert result.features.iloc[0]["current_missing_share"] == pytest.approx(0.4)
    assert result.features.iloc[0]["psi"] > 0.25


def test_small_samples_need_the_statistical_test_to_flag_drift() -> None:
    # 150 rows from the same distribution: PSI is noisy (~(k-1)/n) but the KS test does not reject.
    monitor = DriftMonitor(["employees"]).fit(leads(5000, seed=0))
    same = monitor.calculate(leads(150, seed=4)).features.iloc[0]
    assert np.isfinite(same["ks_pvalue"])
    assert not same["drifted"]
    shifted = monitor.calculate(leads(150, seed=5, shift=1.5)).features.iloc[0]
    assert shifted["ks_pvalue"] < 0.05
    assert shifted["drifted"]


def test_statistical_method_uses_distance_threshold_on_large_samples() -> None:
    th = DriftThresholds(method="statistical")
    monitor = DriftMonitor(["employees"], thresholds=th).fit(leads(5000, seed=0))
    # A small shift: normed Wasserstein above 0.1 but PSI below 0.25.
    row = monitor.calculate(leads(5000, seed=6, shift=0.3)).features.iloc[0]
    assert row["wasserstein"] >= 0.1
    assert row["psi"] < 0.25
    assert row["drifted"]
    assert (
        not DriftMonitor(["employees"])
        .fit(leads(5000, seed=0))
        .calculate(leads(5000, seed=6, shift=0.3))
        .features.iloc[0]["drifted"]
    )


def test_result_is_json_with_thresholds() -> None:
    result = DriftMonitor().fit(leads(2000, seed=0)).calculate(leads(2000, seed=1, shift=1.0))
    payload = json.loads(json.dumps(result.to_dict(include_bins=True), allow_nan=False))
    assert payload["thresholds"]["psi_act"] == 0.25
    assert payload["thresholds"]["dataset_share"] == 0.5
    assert {row["feature"] for row in payload["features"]} == {"employees", "industry", "lead_source"}


def test_score_drift_of_identical_and_shifted_probabilities() -> None:
    rng = np.random.default_rng(0)
    ref = rng.beta(1, 8, 20_000)
    assert score_drift(ref, rng.beta(1, 8, 20_000))["psi"] < 0.01
    shifted = score_drift(ref, rng.beta(3, 8, 20_000))
    assert shifted["psi"] > 0.25
    assert shifted["verdict"] == "significant"


def test_missing_feature_in_current_window_names_the_column() -> None:
    monitor = DriftMonitor(["employees"]).fit(leads(100, seed=0))
    with pytest.raises(MonitoringInputError, match="employees"):
        monitor.calculate(pd.DataFrame({"industry": ["a"]}))


def test_calculate_before_fit_is_a_clear_error() -> None:
    with pytest.raises(MonitoringInputError, match="not fitted"):
        DriftMonitor().calculate(leads(10, seed=0))
