"""Known-answer tests of the calibration metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from leadscore.monitoring import calibration as c


def calibrated_sample(n: int = 50_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 7.0, n)
    y = (rng.random(n) < p).astype(float)
    return y, p


def test_perfectly_calibrated_score_has_slope_one_and_ece_near_zero() -> None:
    y, p = calibrated_sample()
    intercept, slope = c.logistic_recalibration(y, p)
    assert slope == pytest.approx(1.0, abs=0.06)
    assert c.calibration_intercept(y, p) == pytest.approx(0.0, abs=0.04)
    assert c.calibration_in_the_large(y, p) == pytest.approx(0.0, abs=0.004)
    # 50k rows, 10 bins: the sampling floor of ECE is ~0.003-0.005.
    assert c.expected_calibration_error(y, p, 10, "uniform") < 0.01
    assert c.expected_calibration_error(y, p, 10, "quantile") < 0.01


def test_overconfident_score_has_slope_below_one() -> None:
    y, p = calibrated_sample(seed=1)
    spread = expit(2.0 * logit(p))  # same ranking, logits doubled: too extreme
    assert c.calibration_slope(y, spread) == pytest.approx(0.5, abs=0.05)
    assert c.expected_calibration_error(y, spread) > 0.03


def test_uniformly_too_high_score_shows_in_the_large_and_intercept() -> None:
    y, p = calibrated_sample(seed=2)
    shifted = expit(logit(p) + 0.5)
    assert c.calibration_in_the_large(y, shifted) > 0.03
    assert c.calibration_intercept(y, shifted) == pytest.approx(-0.5, abs=0.05)
    assert c.calibration_slope(y, shifted) == pytest.approx(1.0, abs=0.06)


def test_reliability_table_counts_add_up_and_bins_hold_their_values() -> None:
    y, p = calibrated_sample(10_000, seed=3)
    for strategy in ("uniform", "quantile"):
        table = c.reliability_table(y, p, n_bins=10, strategy=strategy)
        assert table["count"].sum() == 10_000
        assert (table["mean_predicted"] >= table["lower"] - 1e-12).all()
        assert (table["mean_predicted"] <= table["upper"] + 1e-12).all()
    quantile = c.reliability_table(y, p, n_bins=10, strategy="quantile")
    assert quantile["count"].between(990, 1010).all()


def test_reliability_table_puts_probability_one_in_the_last_uniform_bin() -> None:
    table = c.reliability_table(np.array([1.0, 0.0]), np.array([1.0, 0.0]), n_bins=4, strategy="uniform")
    assert table["bin"].tolist() == [0, 3]


def test_quantile_bins_merge_on_ties_instead_of_failing() -> None:
    p = np.r_[np.full(900, 0.05), np.full(100, 0.4)]
    y = np.r_[np.zeros(855), np.ones(45), np.zeros(60), np.ones(40)]
    table = c.reliability_table(y, p, n_bins=10, strategy="quantile")
    assert len(table) == 2
    assert table["fraction_positive"].tolist() == pytest.approx([0.05, 0.4])
    assert c.expected_calibration_error(y, p, 10, "quantile") == pytest.approx(0.0, abs=1e-12)


def test_ece_known_value_on_two_bins() -> None:
    # bin [0, 0.5): mean p 0.2, observed 0.0 (2 rows); bin [0.5, 1]: mean p 0.8, observed 1.0 (2 rows).
    p = np.array([0.2, 0.2, 0.8, 0.8])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    assert c.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.2)


def test_calibration_slope_is_nan_when_only_one_class() -> None:
    assert np.isnan(c.calibration_slope(np.zeros(100), np.full(100, 0.2)))


def test_ece_noise_floor_covers_calibrated_draws_and_shrinks_with_rows() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(1.2, 6.0, 500)
    floor = c.ece_noise_floor(p, 10, "quantile", seed=1)
    assert 0.03 < floor < 0.08  # why a fixed 0.05 gate fails good models on 500 test leads
    draws = [
        c.expected_calibration_error((rng.random(500) < p).astype(float), p, 10, "quantile")
        for _ in range(200)
    ]
    assert 0.9 <= np.mean(np.array(draws) <= floor) <= 0.99
    big = rng.beta(1.2, 6.0, 20_000)
    assert c.ece_noise_floor(big, 10, "quantile", seed=1) < floor / 4
