"""Discrimination, proper scores, lift/gains and bootstrap confidence intervals for a calibrated lead score.

Lead conversion is rare (2-15 %), so accuracy is meaningless; the review set follows PRODUCT.md's "periodic
model review": AUC, PR AUC (always read beside the base rate, its chance level), KS, Brier and log loss, lift
and cumulative gains by decile, and the confusion matrix at the threshold sales uses.

The ranking metrics (AUC, PR AUC, KS) share one sort and are computed on tie groups, so they are O(n log n)
and handle the plateaus isotonic calibration produces exactly as scikit-learn does. They also accept a 2-D
batch of row weights, which is how the bootstrap evaluates hundreds of resamples with one sort.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import precision_recall_curve, roc_curve

from leadscore.monitoring._common import MonitoringInputError, as_labels, as_labels_and_scores
from leadscore.monitoring.calibration import (
    BinStrategy,
    calibration_intercept,
    expected_calibration_error,
    logistic_recalibration,
    reliability_table,
)

logger = logging.getLogger(__name__)

# Log loss clips probabilities so one confidently wrong lead costs at most -log(1e-15) ~= 34.5 nats.
LOG_LOSS_EPS = 1e-15
# Points kept per ROC / PR / gains curve in plot files: enough to look smooth, small enough for git and DVC.
MAX_CURVE_POINTS = 200
# Bootstrap resamples are processed in blocks of about this many cells (rows x replicates) to bound memory.
_BOOT_BLOCK_CELLS = 2_000_000


# ----------------------------------------------------------------------------------------------------
# ranking metrics on (possibly batched) weights
# ----------------------------------------------------------------------------------------------------
def _ranking_stats(p: np.ndarray, pos_w: np.ndarray, neg_w: np.ndarray) -> dict[str, np.ndarray]:
    """AUC, average precision and KS for a batch of weightings of the same scores.

    Args:
        p: scores, shape (n,).
        pos_w: weight of each row as a positive, shape (b, n) (0/1 labels times bootstrap counts, or p itself
            for the expected metrics of ``cbpe``).
        neg_w: weight of each row as a negative, shape (b, n).

    Returns:
        Arrays of shape (b,) under keys auc, pr_auc, ks; NaN where a weighting has no positives or no
        negatives.
    """
    order = np.argsort(-p, kind="stable")  # descending: best leads first
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    pos_g = pos_w[:, order]
    neg_g = neg_w[:, order]
    if starts.size < ps.size:  # aggregate tie groups only when there are ties
        pos_g = np.add.reduceat(pos_g, starts, axis=1)
        neg_g = np.add.reduceat(neg_g, starts, axis=1)
    tp = np.cumsum(pos_g, axis=1)
    fp = np.cumsum(neg_g, axis=1)
    total_pos = tp[:, -1]
    total_neg = fp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        # A positive in group g beats every negative ranked strictly lower and ties half of its own group.
        neg_lower = total_neg[:, None] - fp
        auc = np.sum(pos_g * (neg_lower + 0.5 * neg_g), axis=1) / (total_pos * total_neg)
        # Groups holding zero weight (rows absent from a resample) add nothing instead of 0/0.
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1.0), 0.0)
        ap = np.sum(pos_g * precision, axis=1) / total_pos
        ks = np.max(np.abs(tp / total_pos[:, None] - fp / total_neg[:, None]), axis=1)
    bad = (total_pos <= 0) | (total_neg <= 0)
    for arr in (auc, ap, ks):
        arr[bad] = np.nan
    return {"auc": auc, "pr_auc": ap, "ks": ks}


def _single(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    stats = _ranking_stats(p, y[None, :], (1.0 - y)[None, :])
    return {k: float(v[0]) for k, v in stats.items()}


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve: probability a random converter outranks a random non-converter (ties 1/2)."""
    y, p = as_labels_and_scores(y, p)
    return _single(y, p)["auc"]


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (step-wise area under the precision-recall curve, as scikit-learn defines it).

    Its chance level is the base rate, not 0.5: always report it beside ``base_rate``.
    """
    y, p = as_labels_and_scores(y, p)
    return _single(y, p)["pr_auc"]


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov separation: max over thresholds of TPR - FPR (the credit-scoring classic)."""
    y, p = as_labels_and_scores(y, p)
    return _single(y, p)["ks"]


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probability; a proper score (lower is better, 0.25 = coin flip at 50 %)."""
    y, p = as_labels_and_scores(y, p)
    return float(np.mean((p - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = LOG_LOSS_EPS) -> float:
    """Mean negative log-likelihood in nats, with p clipped to [eps, 1 - eps]."""
    y, p = as_labels_and_scores(y, p)
    pc = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(pc) + (1.0 - y) * np.log1p(-pc)))


def base_rate(y: np.ndarray) -> float:
    """Share of converters."""
    y = as_labels(y)
    return float(y.mean()) if y.size else float("nan")


# ----------------------------------------------------------------------------------------------------
# curves and tables
# ----------------------------------------------------------------------------------------------------
def _downsample(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced points, always keeping both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.intp))


def roc_curve_table(y: np.ndarray, p: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """ROC curve points (fpr, tpr, threshold), downsampled to about ``max_points`` for plot files."""
    y, p = as_labels_and_scores(y, p)
    _require_both_classes(y)
    fpr, tpr, thr = roc_curve(y, p)
    thr = np.minimum(thr, 1.0)  # scikit-learn puts +inf on the first point; keep JSON finite
    keep = _downsample(fpr.size, max_points)
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep], "threshold": thr[keep]})


def pr_curve_table(y: np.ndarray, p: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """Precision-recall curve points (recall, precision, threshold) ordered by increasing recall."""
    y, p = as_labels_and_scores(y, p)
    _require_both_classes(y)
    precision, recall, thr = precision_recall_curve(y, p)
    # scikit-learn returns decreasing recall and one threshold fewer than points (the recall-0 end has none).
    precision, recall = precision[::-1], recall[::-1]
    thr = np.r_[1.0, thr[::-1]]
    keep = _downsample(recall.size, max_points)
    return pd.DataFrame({"recall": recall[keep], "precision": precision[keep], "threshold": thr[keep]})


def gains_table(y: np.ndarray, p: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """Cumulative gains curve: share of all conversions found when working the top share of leads by score."""
    y, p = as_labels_and_scores(y, p)
    _require_both_classes(y)
    order = np.argsort(-p, kind="stable")
    cum = np.r_[0.0, np.cumsum(y[order])]
    share_leads = np.arange(y.size + 1) / y.size
    share_conv = cum / cum[-1]
    keep = _downsample(share_leads.size, max_points)
    return pd.DataFrame({"share_of_leads": share_leads[keep], "share_of_conversions": share_conv[keep]})


def decile_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Lift and win rate per score decile (decile 1 = highest scores), with cumulative gains.

    Leads are ranked by score and cut into ``n_bins`` equal shares. Tied scores (isotonic plateaus) are kept
    together in the decile of their average rank, so deciles can be unequal but never split a score value
    arbitrarily; empty deciles are dropped.

    Returns:
        Columns decile, n, conversions, win_rate, lift (win_rate / base_rate), mean_probability,
        min_probability, max_probability, cumulative_n, cumulative_conversions, cumulative_share_of_leads,
        cumulative_gain (share of all conversions captured so far), cumulative_lift.
    """
    y, p = as_labels_and_scores(y, p)
    if n_bins < 1:
        raise MonitoringInputError(f"n_bins must be >= 1, got {n_bins}")
    n = y.size
    rank = rankdata(-p, method="average")
    decile = np.clip(np.ceil(rank * n_bins / n).astype(np.intp), 1, n_bins)
    counts = np.bincount(decile, minlength=n_bins + 1)[1:]
    conv = np.bincount(decile, weights=y, minlength=n_bins + 1)[1:]
    sum_p = np.bincount(decile, weights=p, minlength=n_bins + 1)[1:]
    keep = counts > 0
    deciles = np.arange(1, n_bins + 1)[keep]
    counts, conv, sum_p = counts[keep], conv[keep], sum_p[keep]
    mins = np.array([p[decile == d].min() for d in deciles])
    maxs = np.array([p[decile == d].max() for d in deciles])
    rate = float(y.mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        win = conv / counts
        cum_n = np.cumsum(counts)
        cum_conv = np.cumsum(conv)
        table = pd.DataFrame(
            {
                "decile": deciles,
                "n": counts.astype(np.int64),
                "conversions": conv.astype(np.int64),
                "win_rate": win,
                "lift": win / rate if rate > 0 else np.full(win.shape, np.nan),
                "mean_probability": sum_p / counts,
                "min_probability": mins,
                "max_probability": maxs,
                "cumulative_n": cum_n.astype(np.int64),
                "cumulative_conversions": cum_conv.astype(np.int64),
                "cumulative_share_of_leads": cum_n / n,
                "cumulative_gain": cum_conv / conv.sum() if conv.sum() > 0 else np.full(win.shape, np.nan),
                "cumulative_lift": (cum_conv / cum_n) / rate if rate > 0 else np.full(win.shape, np.nan),
            }
        )
    return table


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Win rate of the top-scored 10 % divided by the base rate (the figure sales leaders remember)."""
    table = decile_table(y, p, n_bins=10)
    return float(table["lift"].iloc[0]) if len(table) else float("nan")


def confusion_from_predictions(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Confusion matrix counts and the rates derived from them for boolean predictions (e.g. ``is_mql``)."""
    y = as_labels(y)
    pred = np.asarray(predicted).astype(bool).reshape(-1)
    if pred.shape != y.shape:
        raise MonitoringInputError(f"label and prediction lengths differ: {y.size} vs {pred.size}")
    yb = y.astype(bool)
    tp = int(np.sum(pred & yb))
    fp = int(np.sum(pred & ~yb))
    fn = int(np.sum(~pred & yb))
    tn = int(np.sum(~pred & ~yb))
    return _rates(tp, fp, fn, tn)


def _rates(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """Precision, recall, F1, accuracy, specificity from (possibly expected, fractional) confusion counts."""

    def div(a: float, b: float) -> float:
        return float(a / b) if b > 0 else float("nan")

    precision = div(tp, tp + fp)
    recall = div(tp, tp + fn)
    n = tp + fp + fn + tn
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": div(2 * tp, 2 * tp + fp + fn),
        "accuracy": div(tp + tn, n),
        "specificity": div(tn, tn + fp),
        "predicted_positive_rate": div(tp + fp, n),
    }


def confusion_at_threshold(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Confusion matrix at ``p >= threshold`` (the MQL rule), with precision, recall, F1, accuracy."""
    y, p = as_labels_and_scores(y, p)
    return {"threshold": float(threshold), **confusion_from_predictions(y, p >= threshold)}


def _require_both_classes(y: np.ndarray) -> None:
    if y.size == 0 or y.min() == y.max():
        raise MonitoringInputError("curves need both converted and non-converted leads")


# ----------------------------------------------------------------------------------------------------
# bootstrap
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a percentile-bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_boot: int
    n_valid: int  # resamples where the metric was defined (e.g. had both classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON."""
        return asdict(self)


MetricFn = Callable[[np.ndarray, np.ndarray], float]


def _weighted_metrics(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Named metrics for a (b, n) batch of bootstrap counts, without materialising the resamples."""
    out: dict[str, np.ndarray] = {}
    pos_w = w * y
    neg_w = w - pos_w
    total = w.sum(axis=1)
    if {"auc", "pr_auc", "ks"} & set(names):
        out.update(_ranking_stats(p, pos_w, neg_w))
    if "brier" in names:
        out["brier"] = (pos_w @ (1.0 - p) ** 2 + neg_w @ p**2) / total
    if "log_loss" in names:
        pc = np.clip(p, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
        out["log_loss"] = -(pos_w @ np.log(pc) + neg_w @ np.log1p(-pc)) / total
    rate = pos_w.sum(axis=1) / total
    mean_p = (w @ p) / total
    out["base_rate"] = rate
    out["mean_predicted"] = mean_p
    out["calibration_in_the_large"] = mean_p - rate
    return {k: out[k] for k in names}


# Metrics the bootstrap evaluates on weight batches (one sort for all resamples).
VECTORISED_METRICS = (
    "auc",
    "pr_auc",
    "ks",
    "brier",
    "log_loss",
    "base_rate",
    "mean_predicted",
    "calibration_in_the_large",
)

# Other named metrics, evaluated resample by resample.
NAMED_METRICS: dict[str, MetricFn] = {
    # Same binning as evaluate_scores' default, so the interval brackets the headline figure.
    "ece": lambda y, p: expected_calibration_error(y, p, n_bins=10, strategy="quantile"),
    "calibration_slope": lambda y, p: logistic_recalibration(y, p)[1],
    "calibration_intercept": calibration_intercept,
    "top_decile_lift": top_decile_lift,
}


def bootstrap_metrics(
    y: np.ndarray,
    p: np.ndarray,
    metrics: Sequence[str | tuple[str, MetricFn]] = ("auc", "brier"),
    *,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, ConfidenceInterval]:
    """Percentile-bootstrap confidence intervals for several metrics on the same resamples.

    Resampling rows with replacement treats leads as independent draws, which is what the review needs ("could
    the AUC be this low by chance?"). The vectorised metrics (``VECTORISED_METRICS``) turn each resample into
    row counts and evaluate all resamples in one sorted pass; other metrics (names in ``NAMED_METRICS`` or
    ``(name, fn(y, p) -> float)`` pairs) are evaluated per resample on the same indices.

    Args:
        y: 0/1 outcomes.
        p: probabilities.
        metrics: metric names or (name, function) pairs.
        n_boot: number of resamples (0 gives NaN intervals around the point estimates).
        seed: seed of the resampling generator, for reproducible reports.
        confidence: interval coverage, e.g. 0.95.

    Returns:
        name -> ConfidenceInterval. Resamples where a metric is undefined (one class only) are skipped and
        counted out of ``n_valid``.
    """
    y, p = as_labels_and_scores(y, p)
    if not 0.0 < confidence < 1.0:
        raise MonitoringInputError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 0:
        raise MonitoringInputError(f"n_boot must be >= 0, got {n_boot}")
    vec: list[str] = []
    loop: dict[str, MetricFn] = {}
    for item in metrics:
        if isinstance(item, tuple):
            loop[item[0]] = item[1]
        elif item in VECTORISED_METRICS:
            vec.append(item)
        elif item in NAMED_METRICS:
            loop[item] = NAMED_METRICS[item]
        else:
            raise MonitoringInputError(
                f"unknown metric {item!r}: use one of "
                f"{sorted((*VECTORISED_METRICS, *NAMED_METRICS))} or a function"
            )
    n = y.size
    point: dict[str, float] = {}
    if vec:
        full = _weighted_metrics(y, p, np.ones((1, n)), vec)
        point.update({k: float(v[0]) for k, v in full.items()})
    for name, fn in loop.items():
        point[name] = _safe_metric(fn, y, p)

    samples: dict[str, list[np.ndarray]] = {name: [] for name in point}
    rng = np.random.default_rng(seed)
    block = max(1, _BOOT_BLOCK_CELLS // max(n, 1))
    done = 0
    while done < n_boot and n > 0:
        b = min(block, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        if vec:
            offsets = (np.arange(b) * n)[:, None]
            counts = np.bincount((idx + offsets).ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
            for name, values in _weighted_metrics(y, p, counts, vec).items():
                samples[name].append(values)
        for name, fn in loop.items():
            samples[name].append(np.array([_safe_metric(fn, y[row], p[row]) for row in idx]))
        done += b

    alpha = (1.0 - confidence) / 2.0
    result: dict[str, ConfidenceInterval] = {}
    for name, est in point.items():
        values = np.concatenate(samples[name]) if samples[name] else np.array([])
        values = values[np.isfinite(values)]
        if values.size:
            low, high = np.quantile(values, [alpha, 1.0 - alpha])
        else:
            low = high = float("nan")
        result[name] = ConfidenceInterval(
            estimate=est,
            low=float(low),
            high=float(high),
            confidence=confidence,
            n_boot=n_boot,
            n_valid=int(values.size),
        )
    return result


def bootstrap_ci(
    y: np.ndarray,
    p: np.ndarray,
    metric: str | MetricFn,
    *,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> ConfidenceInterval:
    """Percentile-bootstrap confidence interval for one metric (a name or a ``fn(y, p) -> float``)."""
    item: str | tuple[str, MetricFn] = metric if isinstance(metric, str) else ("metric", metric)
    key = metric if isinstance(metric, str) else "metric"
    return bootstrap_metrics(y, p, [item], n_boot=n_boot, seed=seed, confidence=confidence)[key]


def _safe_metric(fn: MetricFn, y: np.ndarray, p: np.ndarray) -> float:
    """Evaluate a metric, mapping 'undefined on this sample' to NaN instead of failing the whole bootstrap."""
    try:
        return float(fn(y, p))
    except MonitoringInputError:
        return float("nan")


# ----------------------------------------------------------------------------------------------------
# the evaluate-stage summary
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreTables:
    """The tables behind the plots and the lift report."""

    roc: pd.DataFrame
    pr: pd.DataFrame
    gains: pd.DataFrame
    deciles: pd.DataFrame
    reliability: pd.DataFrame


def evaluate_scores(
    y: np.ndarray,
    p: np.ndarray,
    n_bins: int = 10,
    *,
    calibration_bins: BinStrategy = "quantile",
    threshold: float | None = None,
) -> dict[str, float]:
    """All headline metrics of a scored, labelled set as one flat JSON-able dict (DVC and MLflow metrics).

    Args:
        y: 0/1 outcomes.
        p: calibrated probabilities.
        n_bins: bins for ECE and deciles for lift.
        calibration_bins: ECE binning. Quantile bins are the default because lead scores crowd near the base
            rate, which leaves most equal-width bins nearly empty; see ``expected_calibration_error``.
        threshold: when given, precision/recall/F1 at ``p >= threshold`` are added.

    Returns:
        n, n_positive, base_rate, mean_predicted, auc, pr_auc, pr_auc_lift (pr_auc / base_rate), ks, brier,
        brier_skill (1 - brier / brier of always predicting the base rate), log_loss, ece,
        calibration_in_the_large, calibration_intercept, calibration_slope, top_decile_lift,
        top_decile_win_rate (and precision/recall/f1/predicted_positive_rate when ``threshold`` is given).
        Undefined values (one class only) are NaN; ``to_jsonable`` turns them into null.
    """
    y, p = as_labels_and_scores(y, p)
    n = int(y.size)
    n_pos = int(y.sum())
    rate = n_pos / n
    both = 0 < n_pos < n
    ranking = _single(y, p) if both else {"auc": np.nan, "pr_auc": np.nan, "ks": np.nan}
    brier = float(np.mean((p - y) ** 2))
    _, slope = logistic_recalibration(y, p)
    deciles = decile_table(y, p, n_bins=n_bins)
    out: dict[str, float] = {
        "n": n,
        "n_positive": n_pos,
        "base_rate": rate,
        "mean_predicted": float(p.mean()),
        "auc": ranking["auc"],
        "pr_auc": ranking["pr_auc"],
        "pr_auc_lift": ranking["pr_auc"] / rate if rate > 0 else float("nan"),
        "ks": ranking["ks"],
        "brier": brier,
        "brier_skill": 1.0 - brier / (rate * (1 - rate)) if both else float("nan"),
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p, n_bins=n_bins, strategy=calibration_bins),
        "calibration_in_the_large": float(p.mean() - rate),
        "calibration_intercept": calibration_intercept(y, p),
        "calibration_slope": slope,
        "top_decile_lift": float(deciles["lift"].iloc[0]),
        "top_decile_win_rate": float(deciles["win_rate"].iloc[0]),
    }
    if threshold is not None:
        conf = confusion_at_threshold(y, p, threshold)
        out.update({k: conf[k] for k in ("precision", "recall", "f1", "predicted_positive_rate")})
    return out


def score_tables(
    y: np.ndarray,
    p: np.ndarray,
    n_bins: int = 10,
    *,
    calibration_bins: BinStrategy = "quantile",
    max_points: int = MAX_CURVE_POINTS,
) -> ScoreTables:
    """ROC, PR, gains, decile-lift and reliability tables for plots and reports (needs both classes)."""
    y, p = as_labels_and_scores(y, p)
    return ScoreTables(
        roc=roc_curve_table(y, p, max_points=max_points),
        pr=pr_curve_table(y, p, max_points=max_points),
        gains=gains_table(y, p, max_points=max_points),
        deciles=decile_table(y, p, n_bins=n_bins),
        reliability=reliability_table(y, p, n_bins=n_bins, strategy=calibration_bins),
    )
