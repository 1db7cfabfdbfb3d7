"""DVC stage ``evaluate``: score the out-of-time test period with the bundle, measure it, gate it.

Inputs:
    data/model (the ScoringBundle), data/interim/leads.parquet + activities.parquet (canonical leads, labels),
    data/processed/features.parquet (its ``split`` column names the test leads; its feature columns are copied
    into the reference frame).
Outputs:
    reports/metrics.json: flat numbers for ``dvc metrics`` and MLflow (auc, pr_auc, brier, log_loss, ece, ks,
        calibration_slope, top_decile_lift, base_rate, n_test, ...; bayes_auc and auc_gap_to_bayes when the
        simulator's true_p is present; n_excluded_columns (leakage suspects kept out) and cold_start (0/1)).
    reports/lift.json: win rate, lift and cumulative gains per score decile.
    reports/plots/{roc,pr,calibration,gains}.json (DVC plots) and reports/plots/png/*.png (offline copies).
    data/reference/reference.parquet: the test leads' canonical columns, model features, probability, score,
        band, MQL/SQL flags and label: the baseline of the drift monitors and the quarterly report.

Scoring goes through ``bundle.score`` from the canonical leads and activities, the same path as batch scoring
and the API, so the figures describe what production computes, not a re-use of the training feature frame.
The quality gate (``evaluate.min_auc``, ``evaluate.max_ece``) runs after every output is written, so a failing
model still leaves its metrics and plots for inspection while the non-zero exit stops ``register``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import ModelQualityError, SourceError
from leadscore.core.params import EvaluateParams, Params
from leadscore.monitoring._common import to_jsonable
from leadscore.monitoring.calibration import ece_noise_floor
from leadscore.monitoring.metrics import (
    bootstrap_ci,
    confusion_from_predictions,
    evaluate_scores,
    score_tables,
)
from leadscore.monitoring.plots import write_dvc_plots, write_png_plots
from leadscore.pipelines._entry import load_periods, run_paths_stage

logger = logging.getLogger(__name__)

TEST_SPLIT = "test"
OUTPUT_COLUMNS = ("probability", "score", "band", "is_mql", "is_sql")
# Canonical columns that only exist because the outcome is known: kept out of the reference frame (label is
# added back explicitly), so drift monitors cannot mistake them for inputs.
_NOT_IN_REFERENCE = {c for c in canonical.OUTCOME_ONLY_COLUMNS if c != canonical.LABEL}


@dataclass(frozen=True)
class EvaluatePaths:
    """Where the stage reads and writes (relative to the repository root, where DVC runs stages)."""

    interim: Path = Path("data/interim")
    processed: Path = Path("data/processed")
    model: Path = Path("data/model")
    reports: Path = Path("reports")
    reference: Path = Path("data/reference")

    @property
    def plots(self) -> Path:
        """DVC plot JSON directory."""
        return self.reports / "plots"


def load_test_period(
    paths: EvaluatePaths, feature_names: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Canonical test leads, their activities and their rows of the feature frame (lead_id + features).

    Raises:
        SourceError: an input is missing, the leads carry no label or the test split matches no lead.
    """
    test, activities, frame = load_periods(
        paths.interim, paths.processed, [TEST_SPLIT], [*feature_names, "as_of"]
    )
    if canonical.LABEL not in test.columns:
        raise SourceError(f"{paths.interim / 'leads.parquet'} has no '{canonical.LABEL}' column")
    return test, activities, frame


def band_table(bands: Sequence[str], band: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Share of leads, conversions and win rate per band, best band first (empty bands kept with n=0)."""
    rate = float(y.mean()) if y.size else float("nan")
    rows = []
    for name in bands:
        mask = band == name
        n = int(mask.sum())
        conv = int(y[mask].sum())
        win = conv / n if n else float("nan")
        rows.append(
            {
                "band": name,
                "n": n,
                "share": n / y.size if y.size else float("nan"),
                "conversions": conv,
                "win_rate": win,
                "lift": win / rate if n and rate > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def build_metrics(
    y: np.ndarray,
    scored: pd.DataFrame,
    params: EvaluateParams,
    *,
    band_names: Sequence[str],
    seed: int,
    true_p: np.ndarray | None = None,
) -> dict[str, float]:
    """The flat metrics dict of reports/metrics.json (numbers only, so DVC and MLflow can show every key)."""
    p = scored["probability"].to_numpy(dtype=np.float64)
    headline = evaluate_scores(y, p, n_bins=params.n_bins, calibration_bins=params.calibration_bins)
    metrics: dict[str, float] = {"n_test": headline["n"]}
    metrics.update({k: v for k, v in headline.items() if k != "n"})
    # What a perfectly calibrated model would show on this many leads: the gate must not fail on noise.
    metrics["ece_noise_p95"] = ece_noise_floor(
        p, params.n_bins, params.calibration_bins, n_simulations=max(params.bootstrap_samples, 100), seed=seed
    )
    if params.bootstrap_samples > 0 and 0 < headline["n_positive"] < headline["n"]:
        ci = bootstrap_ci(y, p, "auc", n_boot=params.bootstrap_samples, seed=seed)
        metrics["auc_ci_low"], metrics["auc_ci_high"] = ci.low, ci.high
    for flag in ("is_mql", "is_sql"):
        conf = confusion_from_predictions(y, scored[flag].to_numpy(dtype=bool))
        prefix = flag.removeprefix("is_")
        metrics[f"{prefix}_rate"] = conf["predicted_positive_rate"]
        metrics[f"{prefix}_precision"] = conf["precision"]
        metrics[f"{prefix}_recall"] = conf["recall"]
    bands = band_table(band_names, scored["band"].to_numpy(dtype=object), y)
    for row in bands.itertuples(index=False):
        metrics[f"band_{row.band}_share"] = row.share
        metrics[f"band_{row.band}_win_rate"] = row.win_rate
    if true_p is not None:
        finite = np.isfinite(true_p)
        if finite.all() and 0 < headline["n_positive"] < headline["n"]:
            # The simulator's Bayes probability bounds what any model can reach on this data.
            bayes = evaluate_scores(y, np.clip(true_p, 0.0, 1.0), n_bins=params.n_bins)
            metrics["bayes_auc"] = bayes["auc"]
            metrics["auc_gap_to_bayes"] = bayes["auc"] - headline["auc"]
            metrics["bayes_brier"] = bayes["brier"]
    return {k: _round(v) for k, v in metrics.items()}


def _round(value: float) -> float:
    if isinstance(value, bool | int | np.integer):
        return int(value)
    value = float(value)
    return round(value, 6) if math.isfinite(value) else value


def quality_gate(metrics: dict[str, float], params: EvaluateParams) -> None:
    """Raise ModelQualityError naming every threshold the model misses.

    ECE fails the gate only when it is above ``max_ece`` *and* above the 95th percentile a perfectly
    calibrated model would reach on the same scores (``ece_noise_p95``): on a few hundred test leads sampling
    noise alone exceeds 0.05, and a gate that fails on noise teaches people to raise the threshold.
    """
    problems = []
    auc, ece = metrics.get("auc", float("nan")), metrics.get("ece", float("nan"))
    noise = metrics.get("ece_noise_p95", 0.0)
    noise = noise if isinstance(noise, int | float) and math.isfinite(noise) else 0.0
    if not math.isfinite(auc):
        problems.append("test AUC is undefined (the test period has only one outcome class)")
    elif auc < params.min_auc:
        problem = f"test AUC {auc:.4f} < evaluate.min_auc {params.min_auc}"
        if metrics.get("no_skill"):
            problem += (
                " (no skill: no calibration of the score beat the base rate on the validation period, so "
                "every lead gets the base rate; see data/model/train_metrics.json warnings)"
            )
        problems.append(problem)
    if math.isfinite(ece) and ece > params.max_ece and ece > noise:
        problems.append(
            f"test ECE {ece:.4f} > evaluate.max_ece {params.max_ece} (and > {noise:.4f}, the 95th percentile "
            "of a calibrated model on this many leads)"
        )
    if problems:
        raise ModelQualityError("model misses the quality gate: " + "; ".join(problems))


def reference_frame(test: pd.DataFrame, scored: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Canonical inputs + model features + outputs + label of the test leads (one row per lead)."""
    inputs = test.drop(columns=[c for c in test.columns if c in _NOT_IN_REFERENCE])
    inputs = inputs.drop(columns=[c for c in inputs.columns if c == canonical.LABEL])
    inputs[canonical.LEAD_ID] = inputs[canonical.LEAD_ID].astype("str")
    extra = features.drop_duplicates(canonical.LEAD_ID)
    extra = extra[[c for c in extra.columns if c == canonical.LEAD_ID or c not in inputs.columns]]
    out = inputs.merge(extra, on=canonical.LEAD_ID, how="left", validate="one_to_one")
    for col in OUTPUT_COLUMNS:
        out[col] = scored[col].to_numpy()
    out[canonical.LABEL] = test[canonical.LABEL].to_numpy(dtype=np.int64)
    return out


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(payload), indent=2) + "\n")


def run_evaluate(params: Params, paths: EvaluatePaths = EvaluatePaths()) -> dict[str, float]:
    """Score the test period, write metrics, lift table, plots and the reference frame, then gate.

    Returns:
        The metrics written to reports/metrics.json.

    Raises:
        SourceError: an input is missing.
        ModelQualityError: the model misses ``evaluate.min_auc`` or ``evaluate.max_ece`` (outputs are written
            first).
    """
    from leadscore.models.bundle import ScoringBundle  # lightgbm import: only when the stage really runs

    bundle = ScoringBundle.load(paths.model)
    test, activities, features = load_test_period(paths, bundle.feature_names)
    # Reasons are not needed to measure accuracy and cost most of the scoring time.
    scored = bundle.score(test, activities, with_reasons=False).reset_index(drop=True)
    y = test[canonical.LABEL].to_numpy(dtype=np.float64)
    true_p = test[canonical.TRUE_P].to_numpy(dtype=np.float64) if canonical.TRUE_P in test.columns else None
    band_names = list(bundle.bands.names)
    metrics = build_metrics(
        y, scored, params.evaluate, band_names=band_names, seed=params.base.seed, true_p=true_p
    )

    # Leakage suspects the validate stage kept out of this model (names: bundle metadata and MLflow tag).
    metrics["n_excluded_columns"] = len(bundle.metadata.get("excluded_columns") or [])
    # 1 when train fell back to the simple cold-start model (its warning is in the bundle metadata).
    metrics["cold_start"] = int(bool(bundle.metadata.get("cold_start", False)))
    # 1 when the calibration fell back to the base rate for every lead (leadscore.models.calibrate: the null
    # model).
    metrics["no_skill"] = int(not bundle.calibrator.uses_score)
    p = scored["probability"].to_numpy(dtype=np.float64)
    _write_json(paths.reports / "metrics.json", metrics)
    if 0 < metrics["n_positive"] < metrics["n_test"]:
        tables = score_tables(
            y, p, n_bins=params.evaluate.n_bins, calibration_bins=params.evaluate.calibration_bins
        )
        _write_json(paths.reports / "lift.json", tables.deciles)
        write_dvc_plots(tables, paths.plots)
        write_png_plots(tables, paths.plots / "png", metrics)
    else:
        logger.warning("evaluate: the test period has one outcome class only; no curves or lift table")
    paths.reference.mkdir(parents=True, exist_ok=True)
    reference_frame(test, scored, features).to_parquet(paths.reference / "reference.parquet", index=False)
    logger.info(
        "evaluate: bundle %s on %d test leads: AUC %.4f [%s, %s], PR AUC %.4f (base rate %.4f), Brier %.4f, "
        "ECE %.4f, slope %.3f, top-decile lift %.2f%s",
        bundle.version,
        metrics["n_test"],
        metrics["auc"],
        metrics.get("auc_ci_low", "n/a"),
        metrics.get("auc_ci_high", "n/a"),
        metrics["pr_auc"],
        metrics["base_rate"],
        metrics["brier"],
        metrics["ece"],
        metrics["calibration_slope"],
        metrics["top_decile_lift"],
        f", Bayes AUC {metrics['bayes_auc']:.4f}" if "bayes_auc" in metrics else "",
    )
    quality_gate(metrics, params.evaluate)
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m leadscore.pipelines.evaluate``."""
    run_paths_stage(
        "leadscore.pipelines.evaluate",
        __doc__,
        EvaluatePaths(),
        {
            "interim": "canonical leads + activities",
            "processed": "feature frame with split",
            "model": "scoring bundle directory",
            "reports": "metrics, lift and plots",
            "reference": "reference frame directory",
        },
        run_evaluate,
        argv,
    )


if __name__ == "__main__":
    main()
