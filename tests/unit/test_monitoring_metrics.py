"""Known-answer tests of the discrimination, lift and bootstrap metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from leadscore.monitoring import MonitoringInputError
from leadscore.monitoring import metrics as m
from leadscore.monitoring._common import to_jsonable


def calibrated_sample(n: int, seed: int = 0, a: float = 1.0, b: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Scores p ~ Beta(a, b) and outcomes y ~ Bernoulli(p): calibrated by construction."""
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, n)
    y = (rng.random(n) < p).astype(float)
    return y, p


def test_auc_and_average_precision_match_sklearn_with_ties() -> None:
    y, p = calibrated_sample(5000, seed=1)
    p = np.round(p, 2)  # isotonic-like plateaus: many ties
    assert m.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m.pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_ks_equals_max_tpr_minus_fpr() -> None:
    y, p = calibrated_sample(3000, seed=2)
    fpr, tpr, _ = roc_curve(y, p)
    assert m.ks_statistic(y, p) == pytest.approx(np.max(tpr - fpr), abs=1e-12)


def test_shuffled_score_has_auc_near_half_and_lift_near_one() -> None:
    y, p = calibrated_sample(50_000, seed=3)
    shuffled = np.random.default_rng(4).permutation(p)
    assert m.roc_auc(y, shuffled) == pytest.approx(0.5, abs=0.015)
    assert m.top_decile_lift(y, shuffled) == pytest.approx(1.0, abs=0.12)
    assert m.pr_auc(y, shuffled) == pytest.approx(y.mean(), abs=0.01)


def test_perfect_ranking_gives_auc_one_and_ks_one() -> None:
    y = np.array([0, 0, 0, 1, 1], dtype=float)
    p = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert m.roc_auc(y, p) == 1.0
    assert m.ks_statistic(y, p) == 1.0
    assert m.pr_auc(y, p) == 1.0


def test_brier_and_log_loss_known_values() -> None:
    y = np.array([1.0, 0.0])
    p = np.array([0.8, 0.4])
    assert m.brier_score(y, p) == pytest.approx((0.2**2 + 0.4**2) / 2)
    assert m.log_loss(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_log_loss_is_finite_for_confidently_wrong_scores() -> None:
    assert np.isfinite(m.log_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0])))


def test_decile_table_lift_and_gains_on_hand_made_data() -> None:
    # 100 leads, distinct scores; the top 10 convert 5 times, the rest 5 times in total: base rate 0.10.
    p = np.linspace(0.99, 0.0, 100)
    y = np.zeros(100)
    y[:5] = 1
    y[[20, 40, 60, 80, 99]] = 1
    table = m.decile_table(y, p)
    assert table["n"].tolist() == [10] * 10
    assert table.loc[0, "win_rate"] == pytest.approx(0.5)
    assert table.loc[0, "lift"] == pytest.approx(5.0)
    assert table.loc[0, "cumulative_gain"] == pytest.approx(0.5)
    assert table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert table["cumulative_n"].iloc[-1] == 100


def test_decile_table_keeps_tied_scores_in_one_decile() -> None:
    p = np.r_[np.full(30, 0.5), np.linspace(0.4, 0.0, 70)]
    y = np.r_[np.ones(10), np.zeros(90)]
    table = m.decile_table(y, p)
    assert table["n"].sum() == 100
    tied_share = table.loc[table["max_probability"] == 0.5, "n"]
    assert tied_share.tolist() == [30]  # the whole plateau sits in one decile


def test_confusion_at_threshold_counts_and_rates() -> None:
    y = np.array([1, 1, 0, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.6, 0.7, 0.1, 0.2, 0.3])
    c = m.confusion_at_threshold(y, p, 0.5)
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (2, 1, 1, 2)
    assert c["precision"] == pytest.approx(2 / 3)
    assert c["recall"] == pytest.approx(2 / 3)
    assert c["f1"] == pytest.approx(2 / 3)
    assert c["accuracy"] == pytest.approx(4 / 6)


def test_confusion_precision_is_nan_not_error_when_nothing_is_predicted() -> None:
    c = m.confusion_at_threshold(np.array([0.0, 1.0]), np.array([0.1, 0.2]), 0.9)
    assert np.isnan(c["precision"])
    assert to_jsonable(c)["precision"] is None


def test_weighted_bootstrap_matches_materialised_resample() -> None:
    y, p = calibrated_sample(400, seed=5)
    p = np.round(p, 2)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, y.size, size=(3, y.size))
    counts = np.stack([np.bincount(row, minlength=y.size) for row in idx]).astype(float)
    batched = m._weighted_metrics(y, p, counts, ["auc", "pr_auc", "ks", "brier", "log_loss"])
    for b, row in enumerate(idx):
        assert batched["auc"][b] == pytest.approx(roc_auc_score(y[row], p[row]), abs=1e-12)
        assert batched["pr_auc"][b] == pytest.approx(average_precision_score(y[row], p[row]), abs=1e-12)
        assert batched["ks"][b] == pytest.approx(m.ks_statistic(y[row], p[row]), abs=1e-12)
        assert batched["brier"][b] == pytest.approx(m.brier_score(y[row], p[row]), abs=1e-12)
        assert batched["log_loss"][b] == pytest.approx(m.log_loss(y[row], p[row]), abs=1e-12)


def test_bootstrap_interval_covers_estimate_and_is_reproducible() -> None:
    y, p = calibrated_sample(5000, seed=6)
    first = m.bootstrap_metrics(y, p, ["auc", "brier", "ece"], n_boot=100, seed=7)
    again = m.bootstrap_metrics(y, p, ["auc", "brier", "ece"], n_boot=100, seed=7)
    assert first == again
    auc = first["auc"]
    assert auc.low < auc.estimate < auc.high
    assert 0.01 < auc.high - auc.low < 0.06  # about 2 * 1.96 * SE for 5,000 leads and ~550 conversions
    assert auc.n_valid == 100


def test_bootstrap_width_shrinks_with_sample_size() -> None:
    y_small, p_small = calibrated_sample(1000, seed=8)
    y_big, p_big = calibrated_sample(16_000, seed=8)
    small = m.bootstrap_ci(y_small, p_small, "auc", n_boot=150, seed=1)
    big = m.bootstrap_ci(y_big, p_big, "auc", n_boot=150, seed=1)
    ratio = (small.high - small.low) / (big.high - big.low)
    assert 2.5 < ratio < 6.0  # sqrt(16) = 4


def test_bootstrap_accepts_a_custom_metric_function() -> None:
    y, p = calibrated_sample(2000, seed=9)
    ci = m.bootstrap_ci(y, p, lambda yy, pp: float(pp.max()), n_boot=50, seed=0)
    assert ci.estimate == pytest.approx(p.max())
    assert ci.high <= p.max()


def test_bootstrap_unknown_metric_name_is_a_clear_error() -> None:
    y, p = calibrated_sample(100)
    with pytest.raises(MonitoringInputError, match="unknown metric 'aucc'"):
        m.bootstrap_metrics(y, p, ["aucc"])


def test_evaluate_scores_is_flat_json_and_has_the_headline_keys() -> None:
    y, p = calibrated_sample(20_000, seed=10)
    out = m.evaluate_scores(y, p, n_bins=10)
    for key in (
        "auc",
        "pr_auc",
        "base_rate",
        "brier",
        "log_loss",
        "ece",
        "ks",
        "calibration_slope",
        "calibration_intercept",
        "top_decile_lift",
        "n",
        "n_positive",
    ):
        assert key in out
    assert all(isinstance(v, int | float) for v in out.values())
    json.dumps(to_jsonable(out), allow_nan=False)
    assert out["n"] == 20_000
    assert out["n_positive"] == int(y.sum())
    assert out["top_decile_lift"] > 2.0


def test_evaluate_scores_with_one_class_reports_nan_instead_of_failing() -> None:
    out = m.evaluate_scores(np.zeros(50), np.full(50, 0.1))
    assert np.isnan(out["auc"])
    assert out["brier"] == pytest.approx(0.01)


def test_score_tables_downsample_curves_to_about_200_points() -> None:
    y, p = calibrated_sample(30_000, seed=11)
    tables = m.score_tables(y, p)
    assert len(tables.roc) <= 200
    assert len(tables.pr) <= 200
    assert len(tables.gains) <= 200
    assert tables.roc.iloc[0][["fpr", "tpr"]].tolist() == [0.0, 0.0]
    assert tables.roc.iloc[-1][["fpr", "tpr"]].tolist() == [1.0, 1.0]
    assert tables.gains.iloc[-1]["share_of_conversions"] == pytest.approx(1.0)
    assert tables.pr["recall"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 1], [0.1, 0.2], "lengths differ"),
        ([0, 1], [0.1, 1.2], r"must lie in \[0, 1\]"),
        ([0, np.nan], [0.1, 0.2], "missing labels"),
        ([0, 2], [0.1, 0.2], "labels must be 0/1"),
        ([0, 1], [0.1, np.nan], "missing or infinite"),
    ],
)
def test_bad_inputs_raise_a_domain_error_naming_the_problem(y: list, p: list, message: str) -> None:
    with pytest.raises(MonitoringInputError, match=message):
        m.roc_auc(np.array(y, dtype=float), np.array(p, dtype=float))
