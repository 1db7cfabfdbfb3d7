"""LightGBM training on the training period with early stopping on the validation period.

``train.ensemble_size`` boosters are trained with their own seeds (``base.seed`` for the first, then seeds
drawn from it: ensembles of two base seeds share no member), each early-stopped on its own, and merged into
one booster that scores their mean margin (leadscore.models.booster_ensemble).
With size 1 (the default) the single booster is exactly what it was before ensembles existed.

Determinism: seeds come from ``base.seed``, LightGBM runs with ``deterministic=True`` and row-wise histograms,
so the same data and params give a byte-identical model (a test checks the model string).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from leadscore.core.errors import DataValidationError
from leadscore.core.params import TrainParams
from leadscore.models.booster_ensemble import merge_boosters
from leadscore.models.cold_start import ColdStartDecision, assess_cold_start, cold_start_overrides

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periods:
    """Training and validation model matrices, as every fit (the final one or a tuning trial) sees them.

    Attributes:
        X_train: training-period model matrix.
        y_train: training labels (0/1).
        X_val: validation-period model matrix (early stopping, tuning).
        y_val: validation labels.
        feature_names: column names of the matrices.
        categorical: indices of categorical columns (integer codes).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    feature_names: list[str]
    categorical: list[int]


@dataclass(frozen=True)
class EnsembleMember:
    """One booster of the ensemble: its LightGBM seed and its early-stopped number of trees."""

    seed: int
    best_iteration: int
    validation_score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (train metrics, bundle metadata)."""
        return {
            "seed": self.seed,
            "trees": self.best_iteration,
            "validation_score": round(self.validation_score, 5),
        }


@dataclass
class TrainResult:
    """A trained booster (trimmed to its best iteration; the merged ensemble) and how it came about.

    ``best_iteration`` is the first member's (the only one with ``train.ensemble_size: 1``); ``members`` has
    them all.
    """

    booster: lgb.Booster
    best_iteration: int
    lgb_params: dict[str, Any]
    cold_start: ColdStartDecision
    tuning: dict[str, Any] | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    members: list[EnsembleMember] = field(default_factory=list)


def member_seed(seed: int, index: int) -> int:
    """LightGBM seed of ensemble member ``index``: ``seed`` itself for the first, then drawn from ``seed``.

    Drawn rather than ``seed + index``: with consecutive seeds the ensembles of base seeds 1 and 2 would share
    all members but one, and a seed-spread check of the ensemble would measure little.
    """
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] % (2**31 - 1))


def scale_pos_weight(y: np.ndarray, mode: str) -> float:
    """Weight of conversions relative to non-conversions for ``train.class_weight``.

    "balanced" = negatives / positives, "sqrt" = its square root (a milder push that keeps trees from
    over-splitting on rare positives), "none" = 1. Calibration afterwards restores real probabilities.
    """
    n_pos = float(np.sum(y))
    n_neg = float(len(y) - n_pos)
    if mode == "none" or n_pos == 0:
        return 1.0
    ratio = n_neg / n_pos
    return ratio if mode == "balanced" else math.sqrt(ratio)


def lgb_params(params: TrainParams, seed: int, pos_weight: float) -> dict[str, Any]:
    """LightGBM parameter dict from TrainParams (``num_boost_round`` kept separately by the caller)."""
    return {
        "objective": "binary",
        # Weighted training distorts log loss, so early stopping watches ranking (AUC) in that case.
        "metric": "binary_logloss" if pos_weight == 1.0 else "auc",
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "learning_rate": params.learning_rate,
        "min_data_in_leaf": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": params.bagging_freq,
        "lambda_l2": params.lambda_l2,
        "scale_pos_weight": pos_weight,
        "num_threads": params.num_threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "feature_pre_filter": False,
        "verbosity": -1,
    }


def fit_booster(
    data: Periods, params: dict[str, Any], num_boost_round: int, early_stopping_rounds: int
) -> tuple[lgb.Booster, int, float]:
    """One LightGBM fit with early stopping.

    Returns:
        (booster trimmed to its best iteration, best iteration, validation score at it).
    """
    train_set = lgb.Dataset(
        data.X_train,
        label=data.y_train,
        feature_name=data.feature_names,
        categorical_feature=data.categorical,
        free_raw_data=True,
    )
    val_set = lgb.Dataset(data.X_val, label=data.y_val, reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=num_boost_round,
        valid_sets=[val_set],
        valid_names=["validation"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    metric = params["metric"]
    score = float(booster.best_score["validation"][metric]) if booster.best_score else float("nan")
    # Keep only the trees up to the best iteration: what is saved is exactly what is scored.
    trimmed = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    return trimmed, best, score


def train_model(data: Periods, params: TrainParams, seed: int) -> TrainResult:
    """Train the scoring booster: cold-start check, optional tuning, final fit.

    Args:
        data: training and validation matrices.
        params: training params.
        seed: base.seed.

    Raises:
        DataValidationError: a period lacks one of the classes, or cold start with action "stop".
    """
    started = time.perf_counter()
    y_train = data.y_train
    for name, y in (("training", y_train), ("validation", data.y_val)):
        if len(np.unique(y)) < 2:
            raise DataValidationError(f"the {name} period has only one outcome class: cannot train")
    decision = assess_cold_start(np.concatenate([y_train, data.y_val]), params.cold_start)
    pos_weight = scale_pos_weight(y_train, params.class_weight)
    base = lgb_params(params, seed, pos_weight)
    rounds = params.n_estimators
    tuning: dict[str, Any] | None = None
    warnings: list[str] = []
    if decision.cold:
        overrides = cold_start_overrides(len(y_train))
        rounds = min(rounds, overrides.pop("num_boost_round"))
        base.update(overrides)
        warnings.append(decision.warning)
        if params.tune.enabled:
            warnings.append("tuning skipped: cold start")
    elif params.tune.enabled:
        from leadscore.models.tune import tune_params

        overrides, tuning = tune_params(
            lambda trial: fit_booster(data, trial, params.n_estimators, params.early_stopping_rounds),
            base,
            params,
            seed,
        )
        base.update(overrides)
    boosters: list[lgb.Booster] = []
    members: list[EnsembleMember] = []
    for offset in range(params.ensemble_size):
        this_seed = member_seed(seed, offset)
        booster, best, score = fit_booster(
            data, {**base, "seed": this_seed}, rounds, params.early_stopping_rounds
        )
        boosters.append(booster)
        members.append(EnsembleMember(this_seed, best, score))
    seconds = time.perf_counter() - started
    logger.info(
        "trained LightGBM: %s trees, validation %s %s, %.1fs%s",
        "+".join(str(m.best_iteration) for m in members),
        base["metric"],
        " ".join(f"{m.validation_score:.4f}" for m in members),
        seconds,
        " (cold start model)" if decision.cold else "",
    )
    return TrainResult(
        merge_boosters(boosters),
        members[0].best_iteration,
        base,
        decision,
        tuning,
        seconds,
        warnings,
        members,
    )
