"""Anchoring the calibrated probabilities to a base rate: the forward-chained check and the prior shift."""

import numpy as np
import pytest
from scipy.special import logit

from models.base_rate import choose_prior, forward_forecast_errors, shift_prior
from models.calibrate import Calibrator


def test_forward_errors_score_each_block_from_the_ones_before() -> None:
    # One leftover (oldest) lead, then three blocks of two: [1] [0,0] [1,1] [0,0].
    y = np.array([1, 0, 0, 1, 1, 0, 0])
    mse, steps = forward_forecast_errors(y, block=2)
    assert steps == 2
    # Block [1,1]: previous block says 0 (error 1), history [1,0,0] says 1/3 (error 4/9).
    # Block [0,0]: previous block says 1 (error 1), history [1,0,0,1,1] says 3/5 (error 9/25).
    assert mse["validation"] == pytest.approx(1.0)
    assert mse["history"] == pytest.approx((4 / 9 + 9 / 25) / 2)


def test_too_short_a_history_has_no_forward_evidence_and_auto_keeps_the_validation_prior() -> None:
    y = np.array([0, 1, 1, 0, 1])
    assert forward_forecast_errors(y, block=3) == ({}, 0)
    choice = choose_prior("auto", y, y[-3:])
    assert (choice.chosen, choice.shift, choice.forward_steps) == ("validation", 0.0, 0)


def test_auto_prefers_history_when_rates_only_fluctuate_and_validation_when_they_trend() -> None:
    rng = np.random.default_rng(0)
    block = 2000
    stationary = (rng.random(6 * block) < 0.3).astype(int)
    choice = choose_prior("auto", stationary, stationary[-block:])
    assert choice.chosen == "history"
    assert choice.forecast_mse["history"] < choice.forecast_mse["validation"]
    rates = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    trend = np.concatenate([(rng.random(block) < rate).astype(int) for rate in rates])
    choice = choose_prior("auto", trend, trend[-block:])
    assert choice.chosen == "validation"
    assert choice.shift == 0.0


def test_history_prior_shifts_the_log_odds_from_the_validation_to_the_history_rate() -> None:
    y_hist = np.array([0] * 70 + [1] * 30 + [0] * 50 + [1] * 50)  # history 0.4, validation (last 100) 0.5
    choice = choose_prior("history", y_hist, y_hist[-100:])
    assert (choice.validation_rate, choice.history_rate) == (0.5, 0.4)
    assert choice.shift == pytest.approx(logit(0.4) - logit(0.5))
    assert choose_prior("validation", y_hist, y_hist[-100:]).shift == 0.0
    with pytest.raises(ValueError, match="calibrate.prior"):
        choose_prior("latest", y_hist, y_hist[-100:])


def test_shifted_sigmoid_is_exact_and_shifted_isotonic_keeps_its_form() -> None:
    margin = np.linspace(-4, 4, 50)
    sigmoid = Calibrator("sigmoid", a=-1.3, b=0.4)
    shifted = shift_prior(sigmoid, -0.5)
    np.testing.assert_allclose(logit(shifted(margin)) - logit(sigmoid(margin)), -0.5, atol=1e-12)

    isotonic = Calibrator("isotonic", x=np.array([-2.0, 0.0, 1.0, 3.0]), y=np.array([0.0, 0.2, 0.6, 1.0]))
    moved = shift_prior(isotonic, 0.7)
    np.testing.assert_array_equal(moved.x, isotonic.x)
    assert moved.y[0] == 0.0  # certainties stay certain
    assert moved.y[-1] == 1.0
    np.testing.assert_allclose(logit(moved.y[1:3]) - logit(isotonic.y[1:3]), 0.7)
    assert np.all(np.diff(moved(margin)) >= 0)  # still monotone: ranking unchanged
    assert shift_prior(isotonic, 0.0) is isotonic
