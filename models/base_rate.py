"""Which base rate the calibrated probabilities are anchored to: the validation period's, or all history's.

The calibrator is fitted on the validation period (models.calibrate), so its level is that period's conversion
rate. When conversion rates move from period to period (X Education: 0.379 in training, 0.446 in validation),
every score of the next period inherits the validation period's level. ``calibrate.prior`` decides the level:

- ``validation``: the calibrator as fitted (its prior is the validation period's base rate).
- ``history``: the prior is the base rate of every labelled lead before the test period (training +
  validation): the calibrator's log-odds are shifted by ``logit(history rate) - logit(validation rate)``, the
  prior-shift correction of Saerens, Latinne & Decaestecker (2002). Ranking is unchanged (monotone shift).
- ``auto``: whichever of the two forecast the base rate of the *next* period better on the labelled history,
  forward-chained: the training + validation leads are cut, from the newest backwards, into blocks the size of
  the validation period; for every block after the first, "the block before" (what ``validation`` does) and
  "every lead before" (what ``history`` does) each predict its conversion rate; the lower mean squared error
  wins, ties go to ``validation``. Only training and validation labels are read: the test period stays unseen.

The choice and its evidence (both rates, the forecast errors, the number of forward steps) are recorded in
the train metrics and the bundle metadata. The shifted map keeps the calibrator's form (isotonic breakpoints
or two sigmoid coefficients), so the bundle scores exactly as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import expit, logit

from models.calibrate import Calibrator

logger = logging.getLogger(__name__)

VALIDATION_PRIOR, HISTORY_PRIOR = "validation", "history"
MIN_FORWARD_STEPS = 2  # fewer forward steps than this and "auto" keeps the validation prior


@dataclass(frozen=True)
class PriorChoice:
    """The anchoring base rate and the evidence for it.

    Attributes:
        setting: ``calibrate.prior`` as configured.
        chosen: "validation" or "history".
        validation_rate: conversion rate of the validation period (the calibrator's own prior).
        history_rate: conversion rate of training + validation.
        shift: log-odds added to the calibrator (0 for "validation").
        forecast_mse: forward-chained squared error of each candidate's base-rate forecast (empty when fewer
            than ``MIN_FORWARD_STEPS`` blocks could be scored).
        forward_steps: blocks scored.
    """

    setting: str
    chosen: str
    validation_rate: float
    history_rate: float
    shift: float
    forecast_mse: dict[str, float]
    forward_steps: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the train metrics and the bundle metadata."""
        return {
            "setting": self.setting,
            "chosen": self.chosen,
            "validation_rate": round(self.validation_rate, 4),
            "history_rate": round(self.history_rate, 4),
            "shift": round(self.shift, 4),
            "forecast_mse": {k: round(v, 6) for k, v in self.forecast_mse.items()},
            "forward_steps": self.forward_steps,
        }


def forward_forecast_errors(y_history: np.ndarray, block: int) -> tuple[dict[str, float], int]:
    """Forward-chained mean squared error of the two base-rate forecasts over the labelled history.

    Args:
        y_history: 0/1 labels of training + validation, oldest first (the validation period is the tail).
        block: rows per block (the validation period's size); blocks are cut from the newest backwards, older
            leftover rows only ever serve as history.

    Returns:
        ({"validation": mse, "history": mse}, number of blocks scored); empty dict when none could be.
    """
    y = np.asarray(y_history, dtype=np.float64)
    n_blocks = len(y) // block if block > 0 else 0
    if n_blocks < 2:
        return {}, 0
    start = len(y) - n_blocks * block
    errors: dict[str, list[float]] = {VALIDATION_PRIOR: [], HISTORY_PRIOR: []}
    for t in range(1, n_blocks):
        lo = start + t * block
        target = float(y[lo : lo + block].mean())
        errors[VALIDATION_PRIOR].append((float(y[lo - block : lo].mean()) - target) ** 2)
        errors[HISTORY_PRIOR].append((float(y[:lo].mean()) - target) ** 2)
    return {k: float(np.mean(v)) for k, v in errors.items()}, n_blocks - 1


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
    mse, steps = forward_forecast_errors(y_history, len(y_val))
    if setting == "auto":
        enough = steps >= MIN_FORWARD_STEPS
        better = enough and mse[HISTORY_PRIOR] < mse[VALIDATION_PRIOR]
        chosen = HISTORY_PRIOR if better else VALIDATION_PRIOR
    elif setting in (VALIDATION_PRIOR, HISTORY_PRIOR):
        chosen = setting
    else:
        raise ValueError(f"unknown calibrate.prior {setting!r}")
    shift = 0.0
    if chosen == HISTORY_PRIOR and 0.0 < hist_rate < 1.0 and 0.0 < val_rate < 1.0:
        shift = float(logit(hist_rate) - logit(val_rate))
    choice = PriorChoice(setting, chosen, val_rate, hist_rate, shift, mse, steps)
    logger.info(
        "calibration prior: %s (validation rate %.4f, history rate %.4f, forward MSE %s over %d steps)",
        chosen,
        val_rate,
        hist_rate,
        {k: round(v, 6) for k, v in mse.items()},
        steps,
    )
    return choice


def shift_prior(calibrator: Calibrator, shift: float) -> Calibrator:
    """The calibrator with ``shift`` added to its log-odds, in the same form.

    Sigmoid: p = 1 / (1 + exp(a * m + b)) has log-odds -(a * m + b), so b becomes b - shift (exact).
    Isotonic: each breakpoint probability y becomes expit(logit(y) + shift); 0 and 1 stay put, the map stays
    monotone and is still applied by linear interpolation between the shifted breakpoints.
    """
    if shift == 0.0:
        return calibrator
    if calibrator.method == "sigmoid":
        return replace(calibrator, b=calibrator.b - shift)
    with np.errstate(divide="ignore"):
        y = expit(logit(np.clip(calibrator.y, 0.0, 1.0)) + shift)
    return replace(calibrator, y=y)
