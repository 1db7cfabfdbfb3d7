"""Cold start: too little history for the full model.

With a few hundred labelled leads a 600-round boosted model memorises noise. Following the commercial tools'
minimums (1,000 leads and 120 conversions), below ``train.cold_start`` limits the pipeline either stops with a
clear domain error or trains a deliberately simple model: shallow, strongly regularised LightGBM (depth-2
trees, few rounds, heavy L2), which behaves close to an additive logistic model. The bundle then records
``cold_start: true`` and a warning, so nobody mistakes it for a mature model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadscore.core.errors import DataValidationError
from leadscore.core.params import ColdStartParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColdStartDecision:
    """Whether the data is below the cold-start limits, and why."""

    cold: bool
    n_rows: int
    n_conversions: int
    n_non_conversions: int
    reasons: tuple[str, ...] = ()

    @property
    def warning(self) -> str:
        """One human sentence for metadata and logs (empty when not cold)."""
        if not self.cold:
            return ""
        return (
            "cold start: " + "; ".join(self.reasons) + ". A simpler, strongly regularised model was trained; "
            "expect weaker ranking until more outcomes are available."
        )


def assess_cold_start(y: np.ndarray, params: ColdStartParams) -> ColdStartDecision:
    """Compare the labelled history (training + validation periods) with the cold-start limits.

    Raises:
        DataValidationError: below the limits and ``params.action`` is "stop".
    """
    y = np.asarray(y)
    n_rows, n_pos = len(y), int(y.sum())
    n_neg = n_rows - n_pos
    reasons = []
    if n_rows < params.min_rows:
        reasons.append(f"{n_rows} labelled leads (< {params.min_rows})")
    if min(n_pos, n_neg) < params.min_conversions_per_class:
        reasons.append(
            f"{n_pos} conversions / {n_neg} non-conversions (< {params.min_conversions_per_class} per class)"
        )
    decision = ColdStartDecision(bool(reasons), n_rows, n_pos, n_neg, tuple(reasons))
    if decision.cold and params.action == "stop":
        raise DataValidationError(
            f"not enough history to train: {'; '.join(reasons)}. Collect more outcomes, or set "
            "train.cold_start.action: simple_model to train a simpler model"
        )
    if decision.cold:
        logger.warning("%s", decision.warning)
    return decision


def cold_start_overrides(n_train: int) -> dict[str, Any]:
    """LightGBM settings of the simple model (replace the tuned/default tree settings)."""
    return {
        "num_leaves": 4,
        "max_depth": 2,
        "learning_rate": 0.05,
        "min_data_in_leaf": max(5, n_train // 40),
        "min_data_per_group": max(5, n_train // 40),
        "cat_smooth": 20.0,
        "lambda_l2": 20.0,
        "feature_fraction": 0.8,
        "num_boost_round": 300,
    }
