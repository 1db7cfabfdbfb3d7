"""Anchoring the calibrated probabilities to a base rate: the forward-chained check and the prior shift."""

import numpy as np
import pytest
from scipy.special import logit

from leadscore.models.base_rate import ForwardForecasts, choose_prior, forward_forecasts, shift_prior
from leadscore.models.calibrate import Calibrator


def test_forward_forecasts_score_each_block_from_the_ones_before() -> None:
    # One leftover (oldest) lead, then three blocks of two: [1] [0,0] [1,1] [0,0].
    y = np.array([1, 0, 0, 1, 1, 0, 0])
    forecasts = forward_forecasts(y, block=2)
    assert forecasts.steps == 2
    # Block [1,1]: previous block says 0, history [1,0,0] says 1/3.
    # Block [0,0]: previous block says 1, history [1,0,0,1,1] says 3/5.
    np.testing.assert_allclose(forecasts.actual, [1.0, 0.0])
    np.testing.assert_allclose(forecasts.previous_block, [0.0, 1.0])
    np.testing.assert_allclose(forecasts.all_before, [1 / 3, 3 / 5])
    assert forecasts.mse(1.0) == pytest.approx(1.0)
    assert forecasts.mse(0.0) == pytest.approx((4 / 9 + 9 / 25) / 2)
    # Least squares on the two steps: gaps (previous - history) -1/3 and 2/5; targets - history 2/3 and -3/5.
    expected = (2 / 3 * -1 / 3 + -3 / 5 * 2 / 5) / (1 / 9 + 4 / 25)
    assert expected < 0  # the previous block is anti-correlated here: the weight is clipped at 0
    assert forecasts.best_weight() == 0.0


def test_the_weight_is_the_least_squares_mix_when_neither_forecast_dominates() -> None:
    forecasts = ForwardForecasts(
        previous_block=np.array([0.40, 0.30, 0.50]),
        all_before=np.array([0.30, 0.40, 0.30]),
        actual=np.array([0.36, 0.35, 0.40]),
    )
    gap = forecasts.previous_block - forecasts.all_before
    expected = float(np.dot(forecasts.actual - forecasts.all_before, gap) / np.dot(gap, gap))
    assert 0.0 < expected < 1.0
    assert forecasts.best_weight() == pytest.approx(expected)
    # It forecasts better than either pure forecast and than any other weight.
    best = forecasts.mse(expected)
    assert best < min(forecasts.mse(0.0), forecasts.mse(1.0))
    assert all(best <= forecasts.mse(w) for w in np.linspace(0, 1, 21))
    same = ForwardForecasts(np.array([0.3, 0.3]), np.array([0.3, 0.3]), np.array([0.2, 0.4]))
    assert same.best_weight() == 1.0  # forecasts that never differ: keep the validation rate


def test_too_short_a_history_has_no_forward_evidence_and_auto_keeps_the_validation_prior() -> None:
    y = np.array([0, 1, 1, 0, 1])
    assert forward_forecasts(y, block=3).steps == 0
    choice = choose_prior("auto", y, y[-3:])
    assert (choice.chosen, choice.weight, choice.shift, choice.forward_steps) == ("validation", 1.0, 0.0, 0)
    assert choice.forecast_mse == {}


def test_auto_leans_on_history_when_rates_only_fluctuate_and_on_validation_when_they_trend() -> None:
    rng = np.random.default_rng(0)
    block = 2000
    stationary = (rng.random(6 * block) < 0.3).astype(int)
    choice = choose_prior("auto", stationary, stationary[-block:])
    assert choice.weight < 0.3
    assert abs(choice.level - choice.history_rate) < abs(choice.level - choice.validation_rate)
    rates = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    trend = np.concatenate([(rng.random(block) < rate).astype(int) for rate in rates])
    choice = choose_prior("auto", trend, trend[-block:])
    assert (choice.chosen, choice.weight, choice.shift) == ("validation", 1.0, 0.0)


def test_a_blend_shifts_the_log_odds_to_the_mixed_level_and_records_it() -> None:
    # Block rates 0.2, 0.4, 0.3, 0.5, 0.4 (blocks of 10): the next block lands between the two forecasts.
    y = np.concatenate(
        [np.repeat([1, 0], [round(10 * r), 10 - round(10 * r)]) for r in (0.2, 0.4, 0.3, 0.5, 0.4)]
    )
    choice = choose_prior("auto", y, y[-10:])
    assert choice.chosen == "blend"
    assert 0.0 < choice.weight < 1.0
    assert choice.level == pytest.approx(choice.weight * 0.4 + (1 - choice.weight) * choice.history_rate)
    assert choice.shift == pytest.approx(logit(choice.level) - logit(0.4))
    record = choice.to_dict()
    assert (record["chosen"], record["weight"], record["level"]) == (
        "blend",
        round(choice.weight, 4),
        round(choice.level, 4),
    )
    assert set(record["forecast_mse"]) == {"validation", "history", "blend"}


def test_history_prior_shifts_the_log_odds_from_the_validation_to_the_history_rate() -> None:
    y_hist = np.array([0] * 70 + [1] * 30 + [0] * 50 + [1] * 50)  # history 0.4, validation (last 100) 0.5
    choice = choose_prior("history", y_hist, y_hist[-100:])
    assert (choice.validation_rate, choice.history_rate) == (0.5, 0.4)
    assert choice.shift == pytest.approx(logit(0.4) - logit(0.5))
    assert choose_prior("validation", y_hist, y_hist[-100:]).shift == 0.0
    with pytest.raises(ValueError, match="calibrate.prior"):
        choose_prior("latest", y_hist, y_hist[-100:])


@pytest.mark.parametrize("breakpoint_method", ["isotonic", "spline"])
def test_shifted_sigmoid_is_exact_and_shifted_breakpoints_keep_their_form(breakpoint_method: str) -> None:
    margin = np.linspace(-4, 4, 50)
    sigmoid = Calibrator("sigmoid", a=-1.3, b=0.4)
    shifted = shift_prior(sigmoid, -0.5)
    np.testing.assert_allclose(logit(shifted(margin)) - logit(sigmoid(margin)), -0.5, atol=1e-12)

    isotonic = Calibrator(
        breakpoint_method, x=np.array([-2.0, 0.0, 1.0, 3.0]), y=np.array([0.0, 0.2, 0.6, 1.0])
    )
    moved = shift_prior(isotonic, 0.7)
    np.testing.assert_array_equal(moved.x, isotonic.x)
    assert moved.y[0] == 0.0  # certainties stay certain
    assert moved.y[-1] == 1.0
    np.testing.assert_allclose(logit(moved.y[1:3]) - logit(isotonic.y[1:3]), 0.7)
    assert np.all(np.diff(moved(margin)) >= 0)  # still monotone: ranking unchanged
    assert shift_prior(isotonic, 0.0) is isotonic
