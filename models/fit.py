"""Training orchestration: feature frame -> fitted ScoringBundle + training metrics.

Periods (from the featurize stage's out-of-time split): the transformer and booster learn from the training
period; early stopping, calibration, band thresholds and the drift reference use the validation period; the
test period is left untouched for the evaluate stage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from leadscore.core import canonical
from leadscore.core.errors import DataValidationError
from leadscore.core.params import BandParams, CalibrateParams, FeatureParams, Params, TrainParams
from leadscore.features.build import FeatureBatch
from leadscore.features.dataset import SPLIT_COLUMN
from leadscore.features.describe import reason_groups
from leadscore.features.spec import AS_OF_COLUMN, FeatureSpec
from leadscore.features.split import TRAIN, VALIDATION
from leadscore.features.transform import FeatureTransformer
from leadscore.models.bands import fit_bands
from leadscore.models.base_rate import choose_prior, shift_prior
from leadscore.models.bundle import ScoringBundle
from leadscore.models.calibrate import fit_calibration
from leadscore.models.reasons import fit_explainer, measure_fidelity
from leadscore.models.refit import Refit, refit_on_validation
from leadscore.models.train import Periods, train_model

logger = logging.getLogger(__name__)

FIDELITY_ROWS = 500  # validation rows compared with exact TreeSHAP to measure reason fidelity


@dataclass(frozen=True)
class FitResult:
    """The bundle and the training metrics (written to data/model/train_metrics.json)."""

    bundle: ScoringBundle
    metrics: dict[str, Any]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE with equal-width probability bins: sum over bins of |mean(p) - mean(y)| weighted by bin size."""
    bins = np.minimum((np.asarray(p) * n_bins).astype(np.int64), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.mean() * abs(float(np.mean(p[mask])) - float(np.mean(y[mask])))
    return float(total)


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    both = len(np.unique(y)) == 2
    return {
        "rows": int(len(y)),
        "base_rate": round(float(np.mean(y)), 4),
        "auc": round(float(roc_auc_score(y, p)), 4) if both else float("nan"),
        "brier": round(float(brier_score_loss(y, p)), 5),
        "log_loss": round(float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])), 5),
        "ece": round(expected_calibration_error(y, p), 4),
    }


def _refit_record(refit: Refit | None, rows: int) -> dict[str, Any] | None:
    """What the train metrics and metadata say about the refit (None: the training booster is served)."""
    if refit is None:
        return None
    return {"rows": rows, "oof_folds": refit.folds, "seconds": round(refit.seconds, 2)}


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 5) for k, v in scores.items()}


def _batch_from_frame(frame: pd.DataFrame, spec: FeatureSpec) -> FeatureBatch:
    """Rebuild the raw-feature batch from feature-frame rows (for reason values of the sample)."""
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise DataValidationError(f"feature frame lacks feature column {missing[0]!r}: re-run featurize")
    features = {
        f.name: (
            frame[f.name].to_numpy(dtype=object)
            if f.kind == "categorical"
            else frame[f.name].to_numpy(dtype=np.float64, na_value=np.nan)
        )
        for f in spec.features
    }
    for name, values in features.items():
        if values.dtype == object:
            values[pd.isna(values)] = None
            features[name] = values
    as_of = (
        frame[AS_OF_COLUMN].to_numpy().astype("datetime64[ns]").view(np.int64)
        if AS_OF_COLUMN in frame
        else None
    )
    return FeatureBatch(frame[canonical.LEAD_ID].astype(str).to_numpy(dtype=object), as_of, features, {})


def _history_labels(
    y_train: np.ndarray,
    y_val: np.ndarray,
    as_of: np.ndarray | None,
    is_train: np.ndarray,
    is_val: np.ndarray,
) -> np.ndarray:
    """Training then validation labels, each oldest first (the order the base-rate forecast check needs)."""
    if as_of is None:
        return np.concatenate([y_train, y_val])
    return np.concatenate(
        [
            y_train[np.argsort(as_of[is_train], kind="stable")],
            y_val[np.argsort(as_of[is_val], kind="stable")],
        ]
    )


def fit_scoring_bundle(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    *,
    features: FeatureParams,
    train: TrainParams,
    calibrate: CalibrateParams,
    bands: BandParams,
    seed: int,
    provenance: dict[str, Any] | None = None,
) -> FitResult:
    """Fit transformer, booster, calibrator, bands and reason tables on a featurised frame.

    Args:
        frame: the featurize stage's frame (lead_id, label, split, raw features; optional true_p).
        spec: its feature spec.
        features: transformer vocabulary limits.
        train: LightGBM, class weight, cold start, tuning and refit params (``train.refit``: the served
            booster is refit on training + validation and calibrated on out-of-fold margins,
            leadscore.models.refit).
        calibrate: calibration candidates, CV folds and the anchoring base rate (``prior``).
        bands: band shares and MQL/SQL bands.
        seed: base.seed (LightGBM, CV folds, sampling).
        provenance: git_sha, params_hash, data_hash and anything else to record in the metadata.

    Raises:
        DataValidationError: missing periods/classes, or cold start with action "stop".
    """
    started = time.perf_counter()
    for column in (canonical.LABEL, SPLIT_COLUMN, canonical.LEAD_ID):
        if column not in frame.columns:
            raise DataValidationError(f"feature frame lacks column {column!r}: re-run featurize")
    is_train = (frame[SPLIT_COLUMN] == TRAIN).to_numpy()
    is_val = (frame[SPLIT_COLUMN] == VALIDATION).to_numpy()
    if not is_train.any() or not is_val.any():
        raise DataValidationError("feature frame needs both a training and a validation period")
    y = frame[canonical.LABEL].to_numpy(dtype=np.int64)
    batch = _batch_from_frame(frame, spec)
    names = spec.feature_names

    transformer = FeatureTransformer(
        categorical_features=spec.categorical_features,
        min_category_count=features.min_category_count,
        max_categories=features.max_categories,
    ).fit({n: v[is_train] for n, v in batch.features.items()})
    X = transformer.transform(batch.features)
    X_train, y_train, X_val, y_val = X[is_train], y[is_train], X[is_val], y[is_val]
    categorical = transformer.categorical_indices_

    periods = Periods(X_train, y_train, X_val, y_val, names, categorical)
    result = train_model(periods, train, seed)
    booster = result.booster
    # Validation margins from a booster that did not train on those leads: the calibration's input.
    margin_val = booster.predict(X_val, raw_score=True)
    refit = None
    if train.refit:
        refit = refit_on_validation(periods, result.lgb_params, result.members, calibrate.cv_folds, seed)
        booster, margin_val = refit.booster, refit.oof_margin_val
    calibration = fit_calibration(margin_val, y_val, calibrate, seed)
    history = _history_labels(y_train, y_val, batch.as_of_ns, is_train, is_val)
    prior = choose_prior(calibrate.prior, history, y_val)
    calibrator = shift_prior(calibration.calibrator, prior.shift)
    warnings = list(result.warnings)
    if not calibrator.uses_score:
        warnings.append(
            "no skill: no calibration of the booster's score beats the validation base rate on held-out "
            f"validation leads by more than a standard error (CV Brier {_rounded(calibration.cv_brier)}, "
            f"standard error of the gain {_rounded(calibration.cv_brier_se)}); every lead gets the same "
            f"probability {float(calibrator(np.zeros(1))[0]):.4f}, one band and no reasons"
        )
    raw_train = booster.predict(X_train, raw_score=True)
    p_val = calibrator(margin_val)
    band_scheme = fit_bands(p_val, bands)

    rng = np.random.default_rng(seed)
    train_rows = np.flatnonzero(is_train)
    sample = np.sort(
        rng.choice(train_rows, size=min(train.reason_sample_rows, len(train_rows)), replace=False)
    )
    groups = reason_groups(spec, transformer, {n: v[is_train] for n, v in batch.features.items()})
    n_codes = {i: len(transformer.vocabularies_[names[i]]) + 2 for i in categorical}
    reason_started = time.perf_counter()
    explainer = fit_explainer(booster, X[sample], names, categorical, groups, n_codes)
    val_rows = np.flatnonzero(is_val)
    fidelity_rows = np.sort(rng.choice(val_rows, size=min(FIDELITY_ROWS, len(val_rows)), replace=False))
    explainer.fidelity = measure_fidelity(explainer, booster, X[fidelity_rows])
    reason_seconds = time.perf_counter() - reason_started
    logger.info("reason tables built in %.1fs, fidelity %s", reason_seconds, explainer.fidelity)

    reference = frame.loc[
        is_val, [c for c in frame.columns if c not in (SPLIT_COLUMN, canonical.TRUE_P)]
    ].copy()
    reference["probability"] = p_val
    reference = reference.reset_index(drop=True)

    metrics: dict[str, Any] = {
        "train": _metrics(y_train, 1.0 / (1.0 + np.exp(-raw_train))),
        # Calibrated on this very period: optimistic for calibration, honest for AUC (monotone calibration).
        "validation": _metrics(y_val, p_val),
        "validation_uncalibrated": _metrics(y_val, 1.0 / (1.0 + np.exp(-margin_val))),
        "best_iteration": result.best_iteration,
        "ensemble": [member.to_dict() for member in result.members],
        "cold_start": result.cold_start.cold,
        "warnings": warnings,
        "calibration": {
            "method": calibration.method,
            "cv_brier": calibration.cv_brier,
            "cv_brier_se": _rounded(calibration.cv_brier_se),
            "cv_folds": calibration.folds,
            "uncalibrated_brier": round(calibration.uncalibrated_brier, 5),
            "prior": prior.to_dict(),
        },
        "bands": band_scheme.to_dict(),
        "reasons": {
            "sample_rows": int(len(sample)),
            "seconds": round(reason_seconds, 1),
            **explainer.fidelity,
        },
        "tuning": result.tuning,
        "refit": _refit_record(refit, len(y_train) + len(y_val)),
        "train_seconds": round(result.seconds + (refit.seconds if refit else 0.0), 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "rows": {"train": int(is_train.sum()), "validation": int(is_val.sum())},
    }
    if canonical.TRUE_P in frame.columns:
        true_p = frame[canonical.TRUE_P].to_numpy(dtype=np.float64)
        metrics["validation"]["bayes_auc"] = round(float(roc_auc_score(y_val, true_p[is_val])), 4)
    metadata: dict[str, Any] = {
        **(provenance or {}),
        "trained_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "feature_names": names,
        "categorical_features": spec.categorical_features,
        "spec": spec.to_dict(),
        "band_thresholds": dict(zip(band_scheme.names[:-1], band_scheme.thresholds, strict=True)),
        "bands": band_scheme.to_dict(),
        "calibration_method": calibration.method,
        "calibration": metrics["calibration"],
        "cold_start": result.cold_start.cold,
        "warnings": warnings,
        "lightgbm_params": result.lgb_params,
        "best_iteration": result.best_iteration,
        "ensemble": metrics["ensemble"],
        "refit": metrics["refit"],
        "reason_fidelity": explainer.fidelity,
        "reason_groups": {g.key: list(g.members) for g in groups},
        "metrics": {k: metrics[k] for k in ("train", "validation", "validation_uncalibrated")},
        "rows": metrics["rows"],
    }
    bundle = ScoringBundle(
        spec, transformer, booster, calibrator, band_scheme, explainer, reference, metadata
    )
    metrics["version"] = bundle.version
    metrics["cold_start"] = result.cold_start.cold
    return FitResult(bundle=bundle, metrics=metrics)


def fit_with_params(
    frame: pd.DataFrame, spec: FeatureSpec, params: Params, provenance: dict[str, Any] | None = None
) -> FitResult:
    """:func:`fit_scoring_bundle` with every setting taken from the parsed params, as the train stage does.

    Callers that train "as the pipeline would" (the train stage, benchmarks, test fixtures) use this, so a new
    training setting is wired in one place.
    """
    return fit_scoring_bundle(
        frame,
        spec,
        features=params.features,
        train=params.train,
        calibrate=params.calibrate,
        bands=params.bands,
        seed=params.base.seed,
        provenance=provenance,
    )
