"""Spline calibration map: bends where the sigmoid cannot, keeps the ranking isotonic ties, is monotone."""

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from leadscore.models.spline_map import fit_spline_map


def bent_leads(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins, true probabilities and outcomes where the probability is not a sigmoid of the margin.

    A plateau around 0.3 between two steep rises: the shape of a score whose middle band is a mix of leads.
    """
    rng = np.random.default_rng(seed)
    margin = rng.normal(0.0, 1.5, n)
    truth = 0.05 + 0.25 * expit(4.0 * (margin + 1.5)) + 0.65 * expit(4.0 * (margin - 1.5))
    return margin, truth, (rng.random(n) < truth).astype(int)


def test_spline_follows_a_bent_curve_closer_than_sigmoid_and_isotonic() -> None:
    margin, _, y = bent_leads(3000, seed=11)
    fresh, truth, _ = bent_leads(20000, seed=12)
    x, p = fit_spline_map(margin, y, knots=6)
    spline_error = np.mean(np.abs(np.interp(fresh, x, p) - truth))
    sigmoid = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y)
    sigmoid_error = np.mean(np.abs(sigmoid.predict_proba(fresh.reshape(-1, 1))[:, 1] - truth))
    isotonic = IsotonicRegression(out_of_bounds="clip").fit(margin, y)
    isotonic_error = np.mean(np.abs(isotonic.predict(fresh) - truth))
    assert spline_error < 0.6 * sigmoid_error
    assert spline_error < isotonic_error


def test_spline_keeps_the_booster_ranking_that_isotonic_steps_tie() -> None:
    margin, _, y = bent_leads(3000, seed=13)
    new_margin, _, new_y = bent_leads(20000, seed=15)  # ranking is judged on leads neither map has seen
    x, p = fit_spline_map(margin, y, knots=6)
    calibrated = np.interp(new_margin, x, p)
    isotonic = IsotonicRegression(out_of_bounds="clip").fit(margin, y).predict(new_margin)
    assert np.unique(calibrated).size > 20 * np.unique(isotonic).size
    assert abs(roc_auc_score(new_y, calibrated) - roc_auc_score(new_y, new_margin)) < 1e-3


def test_spline_map_is_monotone_even_when_the_outcomes_are_not() -> None:
    rng = np.random.default_rng(14)
    margin = rng.uniform(-3, 3, 2000)
    truth = 0.2 + 0.6 * np.exp(-(margin**2))  # rises then falls: an unconstrained spline follows it
    y = (rng.random(2000) < truth).astype(int)
    x, p = fit_spline_map(margin, y, knots=8)
    assert np.all(np.diff(p) >= 0)
    assert p.max() - p.min() > 0.2  # the rising half is kept, not flattened to the base rate


def test_equal_margins_give_the_base_rate() -> None:
    y = np.array([0, 1, 1, 0, 1])
    x, p = fit_spline_map(np.full(5, 0.3), y, knots=6)
    np.testing.assert_allclose(np.interp([-5.0, 0.3, 5.0], x, p), 0.6)
