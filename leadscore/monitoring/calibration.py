"""Calibration metrics: is a predicted 20 % really a one-in-five chance?

RevOps reads scores as probabilities (score 0-100 = round(100 * p)), and the label-free estimates in ``cbpe``
are only as good as the calibration, so calibration is measured several complementary ways:

- the reliability table (binned mean prediction vs observed conversion rate, with counts so that sparse bins
  are visible) and the ECE summarising it;
- calibration-in-the-large (mean prediction minus base rate) and the logistic-recalibration intercept and
  slope (Cox 1958): a slope below 1 means over-confident, spread-out scores; above 1 means scores too timid.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from leadscore.monitoring._common import MonitoringInputError, as_labels_and_scores, as_probabilities

logger = logging.getLogger(__name__)

BinStrategy = Literal["uniform", "quantile"]

# Probabilities are clipped away from 0 and 1 before taking logits: isotonic calibration emits exact 0/1 on
# its end plateaus, whose logits are infinite. 1e-6 bounds a single lead's leverage at |logit| <= 13.8.
LOGIT_EPS = 1e-6


def _bin_index(p: np.ndarray, n_bins: int, strategy: BinStrategy) -> tuple[np.ndarray, np.ndarray]:
    """Assign each probability to a bin; return (bin index per row, bin edges)."""
    if n_bins < 1:
        raise MonitoringInputError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        # p == 1.0 belongs to the last bin, not to an extra one.
        idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
        return idx, edges
    if strategy == "quantile":
        # Ties (isotonic plateaus) collapse duplicate quantiles, so there may be fewer bins than asked for.
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        if edges.size == 1:
            return np.zeros(p.size, dtype=np.intp), np.array([edges[0], edges[0]])
        idx = np.searchsorted(edges[1:-1], p, side="right")
        return idx, edges
    raise MonitoringInputError(f"unknown bin strategy {strategy!r}: use 'uniform' or 'quantile'")


def reliability_table(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10, strategy: BinStrategy = "uniform"
) -> pd.DataFrame:
    """Binned reliability diagram data.

    Args:
        y: 0/1 outcomes.
        p: calibrated probabilities.
        n_bins: number of bins asked for (quantile bins may merge on ties).
        strategy: ``"uniform"`` (equal-width bins on [0, 1], the textbook reliability diagram) or
        ``"quantile"``
            (equal-count bins, better when scores crowd near the base rate as lead scores do).

    Returns:
        One row per non-empty bin: bin, lower, upper (bin edges), count, mean_predicted, fraction_positive,
        gap (mean_predicted - fraction_positive). Counts are kept so readers can discount sparse bins.
    """
    y, p = as_labels_and_scores(y, p)
    idx, edges = _bin_index(p, n_bins, strategy)
    n_edges = edges.size - 1
    count = np.bincount(idx, minlength=n_edges).astype(np.int64)
    sum_p = np.bincount(idx, weights=p, minlength=n_edges)
    sum_y = np.bincount(idx, weights=y, minlength=n_edges)
    keep = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = sum_p / count
        frac = sum_y / count
    table = pd.DataFrame(
        {
            "bin": np.arange(n_edges)[keep],
            "lower": edges[:-1][keep],
            "upper": edges[1:][keep],
            "count": count[keep],
            "mean_predicted": mean_p[keep],
            "fraction_positive": frac[keep],
        }
    )
    table["gap"] = table["mean_predicted"] - table["fraction_positive"]
    return table


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10, strategy: BinStrategy = "uniform"
) -> float:
    """Expected calibration error: count-weighted mean of |mean prediction - observed rate| over bins.

    Caveat: ECE depends on the binning. Even a perfectly calibrated model shows ECE > 0 from sampling noise,
    roughly 0.8 * sqrt(p (1 - p) / rows-per-bin) per bin, so more bins or fewer rows inflate it; with too few
    bins miscalibrations of opposite sign inside one bin cancel out. Compare ECE only at equal bins and
    similar sample sizes, and read it next to the reliability table's counts and the calibration slope.
    """
    table = reliability_table(y, p, n_bins=n_bins, strategy=strategy)
    n = table["count"].sum()
    return float((table["count"] * table["gap"].abs()).sum() / n)


def ece_noise_floor(
    p: np.ndarray,
    n_bins: int = 10,
    strategy: BinStrategy = "uniform",
    *,
    quantile: float = 0.95,
    n_simulations: int = 200,
    seed: int = 0,
) -> float:
    """ECE a perfectly calibrated model would still show on these scores: a quantile over simulated outcomes.

    Outcomes are drawn as Bernoulli(p) ``n_simulations`` times and the ECE of each draw is computed with the
    same bins. On 500 leads with 10 bins the 95th percentile is around 0.05, so a fixed ECE threshold alone
    would fail good models on small test sets; comparing against this floor separates miscalibration from
    sampling noise.
    """
    p = as_probabilities(p)
    if p.size == 0 or n_simulations <= 0:
        return float("nan")
    idx, edges = _bin_index(p, n_bins, strategy)
    k = edges.size - 1
    count = np.bincount(idx, minlength=k).astype(np.float64)
    mean_p = np.bincount(idx, weights=p, minlength=k)
    rng = np.random.default_rng(seed)
    values = np.empty(n_simulations)
    for s in range(n_simulations):
        y = (rng.random(p.size) < p).astype(np.float64)
        sum_y = np.bincount(idx, weights=y, minlength=k)
        # sum over bins of n_k/n * |mean_p_k - frac_k| == sum |sum_p_k - sum_y_k| / n
        values[s] = np.abs(mean_p - sum_y)[count > 0].sum() / p.size
    return float(np.quantile(values, quantile))


def calibration_in_the_large(y: np.ndarray, p: np.ndarray) -> float:
    """Mean predicted probability minus the observed base rate (positive = scores too optimistic)."""
    y, p = as_labels_and_scores(y, p)
    return float(p.mean() - y.mean())


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, LOGIT_EPS, 1.0 - LOGIT_EPS))


def _newton_logistic(
    x: np.ndarray, y: np.ndarray, *, fit_slope: bool, max_iter: int = 100, tol: float = 1e-10
) -> tuple[float, float]:
    """Unpenalised logistic regression of y on [1, x] (or on 1 with offset x) by damped Newton-Raphson.

    Returns (intercept, slope); NaN when the fit does not exist (one class only, or perfect separation).
    A hand-written 2-parameter Newton is exact, fast and avoids scikit-learn's changing penalty API.
    """
    if y.min() == y.max():
        return float("nan"), float("nan")
    beta = np.array([0.0, 1.0])  # start at "perfectly calibrated"

    def loglik(b: np.ndarray) -> float:
        eta = b[0] + b[1] * x
        # log(1 + e^eta) computed stably
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    current = loglik(beta)
    for _ in range(max_iter):
        eta = beta[0] + beta[1] * x
        mu = expit(eta)
        w = mu * (1.0 - mu)
        r = y - mu
        if fit_slope:
            grad = np.array([r.sum(), (r * x).sum()])
            hess = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                return float("nan"), float("nan")
        else:
            if w.sum() <= 0:
                return float("nan"), float("nan")
            step = np.array([r.sum() / w.sum(), 0.0])
        # Step halving keeps the likelihood monotone when the start is far from the optimum.
        scale = 1.0
        while scale > 1e-8:
            candidate = beta + scale * step
            value = loglik(candidate)
            if value >= current - 1e-12:
                break
            scale /= 2.0
        beta, current = candidate, value
        if np.max(np.abs(scale * step)) < tol:
            break
    else:
        logger.warning("calibration fit did not converge (perfect separation?): reporting NaN")
        return float("nan"), float("nan")
    if not np.isfinite(beta).all() or np.abs(beta).max() > 1e6:
        return float("nan"), float("nan")
    return float(beta[0]), float(beta[1])


def logistic_recalibration(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Fit ``logit P(y=1) = a + b * logit(p)`` without penalty and return ``(a, b)``.

    ``b`` is the calibration slope (1 is ideal); ``a`` is the intercept of that joint fit, which is only
    interpretable together with ``b``. Use ``calibration_intercept`` for the slope-fixed intercept.
    """
    y, p = as_labels_and_scores(y, p)
    return _newton_logistic(_logit(p), y, fit_slope=True)


def calibration_slope(y: np.ndarray, p: np.ndarray) -> float:
    """Calibration slope: coefficient of logit(p) in an unpenalised logistic regression of y (ideal 1)."""
    return logistic_recalibration(y, p)[1]


def calibration_intercept(y: np.ndarray, p: np.ndarray) -> float:
    """Calibration-in-the-large intercept: ``a`` in ``logit P(y=1) = a + logit(p)`` with the slope fixed at 1.

    0 is ideal; negative means the scores are too high on average (on the log-odds scale), the same direction
    as a positive ``calibration_in_the_large``.
    """
    y, p = as_labels_and_scores(y, p)
    return _newton_logistic(_logit(p), y, fit_slope=False)[0]
