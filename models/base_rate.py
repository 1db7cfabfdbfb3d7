"""The base rate the calibrated probabilities are anchored to: the validation period's, history's, or a mix.

The calibrator is fitted on the validation period (leadscore.models.calibrate), so its level is that period's
conversion rate. When conversion rates move from period to period (X Education: 0.379 in training, 0.446 in
validation),
every score of the next period inherits the validation period's level. ``calibrate.prior`` decides the level:

- ``validation``: the calibrator as fitted (its prior is the validation period's base rate).
- ``history``: the prior is the base rate of every labelled lead before the test period (training +
  validation): the calibrator's log-odds are shifted by ``logit(history rate) - logit(validation rate)``, the
  prior-shift correction of Saerens, Latinne & Decaestecker (2002). Ranking is unchanged (monotone shift).
- ``auto`` (the default): a forecast combination of the two (Bates & Granger 1969), ``w * validation rate +
  (1 - w) * history rate``, with the weight ``w`` in [0, 1] that forecasts the *next* period's rate best on
  the labelled history, forward-chained: the training + validation leads are cut, from the newest backwards,
  into blocks the size of the validation period; for every block after the first, "the block before" (what
  ``validation`` does) and "every lead before" (what ``history`` does) each forecast its conversion rate, and
  ``w`` is the least-squares weight of the two forecasts, clipped to [0, 1]. ``w = 1`` is ``validation``
  (rates that persist or trend), ``w = 0`` is ``history`` (rates that only fluctuate round a mean); with fewer
  than ``MIN_FORWARD_STEPS`` blocks, or forecasts that never differ, ``w = 1``. Only training and validation
  labels are read: the test period stays unseen.

Why a weight and not a pick: a choice between two forecasts from a handful of forward steps flips on noise
when they are close (X Education: forward MSE 0.0022 vs 0.0024), and when neither dominates a combination
forecasts better than either. The weight moves smoothly with the evidence.

The choice and its evidence (both rates, the weight, the resulting level, the forecast errors, the number of
forward steps) are recorded in the train metrics and the bundle metadata. The shifted map keeps the
calibrator's form (spline or isotonic breakpoints, two sigmoid coefficients or one constant), so the bundle
scores exactly as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import expit, logit

from leadscore.models.calibrate import Calibrator

logger = logging.getLogger(__name__)

VALIDATION_PRIOR, HISTORY_PRIOR, BLEND_PRIOR = "validation", "history", "blend"
MIN_FORWARD_STEPS = 2  # fewer forward steps than this and "auto" keeps the validation prior


@dataclass(frozen=True)
class PriorChoice:
    """The anchoring base rate and the evidence for it.

    Attributes:
        setting: ``calibrate.prior`` as configured.
        validation_rate: conversion rate of the validation period (the calibrator's own prior).
        history_rate: conversion rate of training + validation.
        weight: weight of the validation rate in the anchoring level.
        forecast_mse: forward-chained squared error of the validation, history and (in-sample: its weight
            was fitted on the same steps) blended forecasts; empty when fewer than ``MIN_FORWARD_STEPS``
            blocks could be scored.
        forward_steps: blocks scored.
    """

    setting: str
    validation_rate: float
    history_rate: float
    weight: float
    forecast_mse: dict[str, float]
    forward_steps: int

    @property
    def chosen(self) -> str:
        """The label of the weight: "validation" (1), "history" (0) or "blend" (in between)."""
        if self.weight == 1.0:
            return VALIDATION_PRIOR
        return HISTORY_PRIOR if self.weight == 0.0 else BLEND_PRIOR

    @property
    def level(self) -> float:
        """The anchoring base rate, ``weight * validation_rate + (1 - weight) * history_rate``."""
        return self.weight * self.validation_rate + (1.0 - self.weight) * self.history_rate

    @property
    def shift(self) -> float:
        """Log-odds added to the calibrator, ``logit(level) - logit(validation_rate)`` (0 at weight 1)."""
        level, rate = self.level, self.validation_rate
        if self.weight == 1.0 or not (0.0 < level < 1.0 and 0.0 < rate < 1.0):
            return 0.0
        return float(logit(level) - logit(rate))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the train metrics and the bundle metadata."""
        return {
            "setting": self.setting,
            "chosen": self.chosen,
            "validation_rate": round(self.validation_rate, 4),
            "history_rate": round(self.history_rate, 4),
            "weight": round(self.weight, 4),
            "level": round(self.level, 4),
            "shift": round(self.shift, 4),
            "forecast_mse": {k: round(v, 6) for k, v in self.forecast_mse.items()},
            "forward_steps": self.forward_steps,
        }


@dataclass(frozen=True)
class ForwardForecasts:
    """The two base-rate forecasts of every forward step, and what each block turned out to be.

    Attributes:
        previous_block: the block before's rate per step (the ``validation`` forecast).
        all_before: the rate of every lead before per step (the ``history`` forecast).
        actual: the block's own rate per step.
    """

    previous_block: np.ndarray
    all_before: np.ndarray
    actual: np.ndarray

    @property
    def steps(self) -> int:
        """Blocks scored."""
        return len(self.actual)

    def blended(self, weight: float) -> np.ndarray:
        """The combined forecast of every step."""
        return weight * self.previous_block + (1.0 - weight) * self.all_before

    def best_weight(self) -> float:
        """Least-squares weight of the previous block's rate, clipped to [0, 1]; 1 if the forecasts agree."""
        gap = self.previous_block - self.all_before
        spread = float(np.dot(gap, gap))
        if spread == 0.0:
            return 1.0
        return float(np.clip(np.dot(self.actual - self.all_before, gap) / spread, 0.0, 1.0))

    def mse(self, weight: float) -> float:
        """Mean squared error of the combined forecast."""
        return float(np.mean((self.blended(weight) - self.actual) ** 2))


def forward_forecasts(y_history: np.ndarray, block: int) -> ForwardForecasts:
    """Forward-chained base-rate forecasts over the labelled history.

    Args:
        y_history: 0/1 labels of training + validation, oldest first (the validation period is the tail).
        block: rows per block (the validation period's size); blocks are cut from the newest backwards, older
            leftover rows only ever serve as history.

    Returns:
        The forecasts of every block after the first (none when fewer than two blocks fit).
    """
    y = np.asarray(y_history, dtype=np.float64)
    n_blocks = len(y) // block if block > 0 else 0
    start = len(y) - n_blocks * block
    previous, before, actual = [], [], []
    for t in range(1, n_blocks):
        lo = start + t * block
        actual.append(float(y[lo : lo + block].mean()))
        previous.append(float(y[lo - block : lo].mean()))
        before.append(float(y[:lo].mean()))
    return ForwardForecasts(np.array(previous), np.array(before), np.array(actual))


def choose_prior(setting: str, y_history: np.ndarray, y_val: np.ndarray) -> PriorChoice:
    """Decide the anchoring base rate (see the module docstring).

    Args:
        setting: ``calibrate.prior``: "validation", "history" or "auto".
        y_history: labels of training + validation, oldest first, ending with the validation period.
        y_val: labels of the validation period (the calibrator's fitting set).
    """
    y_val = np.asarray(y_val, dtype=np.float64)
    y_history = np.asarray(y_history, dtype=np.float64)
    val_rate, hist_rate = float(y_val.mean()), float(y_history.mean())
    forecasts = forward_forecasts(y_history, len(y_val))
    if setting == "auto":
        weight = forecasts.best_weight() if forecasts.steps >= MIN_FORWARD_STEPS else 1.0
    elif setting == VALIDATION_PRIOR:
        weight = 1.0
    elif setting == HISTORY_PRIOR:
        weight = 0.0
    else:
        raise ValueError(f"unknown calibrate.prior {setting!r}")
    mse: dict[str, float] = {}
    if forecasts.steps:
        mse = {VALIDATION_PRIOR: forecasts.mse(1.0), HISTORY_PRIOR: forecasts.mse(0.0)}
        if setting == "auto":
            mse[BLEND_PRIOR] = forecasts.mse(weight)
    choice = PriorChoice(setting, val_rate, hist_rate, weight, mse, forecasts.steps)
    logger.info(
        "calibration prior: %s, weight %.2f on the validation rate %.4f (history rate %.4f) -> level %.4f "
        "(forward MSE %s over %d steps)",
        choice.chosen,
        weight,
        val_rate,
        hist_rate,
        choice.level,
        {k: round(v, 6) for k, v in mse.items()},
        forecasts.steps,
    )
    return choice


def shift_prior(calibrator: Calibrator, shift: float) -> Calibrator:
    """The calibrator with ``shift`` added to its log-odds, in the same form.

    Sigmoid (and constant, a sigmoid with a = 0): p = 1 / (1 + exp(a * m + b)) has log-odds -(a * m + b), so b
    becomes b - shift (exact).
    Spline and isotonic (breakpoints): each breakpoint probability y becomes expit(logit(y) + shift); 0 and 1
    stay put, the map stays monotone and is still applied by linear interpolation between the shifted
    breakpoints.
    """
    if shift == 0.0:
        return calibrator
    if not calibrator.has_breakpoints:
        return replace(calibrator, b=calibrator.b - shift)
    with np.errstate(divide="ignore"):
        y = expit(logit(np.clip(calibrator.y, 0.0, 1.0)) + shift)
    return replace(calibrator, y=y)
