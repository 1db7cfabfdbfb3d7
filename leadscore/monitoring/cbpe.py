"""Confidence-based performance estimation (CBPE): model accuracy before the outcomes are known.

Conversion labels arrive weeks or months after scoring (PRODUCT.md, complaint 4). If the probabilities are
calibrated, each lead's outcome is a Bernoulli(p) draw, so the *expected* confusion matrix, precision, recall,
AUC and Brier score of a window of scored leads follow from the probabilities alone:

- E[TP] = sum of p over predicted positives, E[FP] = sum of (1 - p) over them, likewise FN / TN;
- E[AUC] ~= sum_{i != j} p_i (1 - p_j) [s_i > s_j] / sum_{i != j} p_i (1 - p_j) (ties count 1/2), computed in
  O(n log n) with one sort and cumulative sums instead of the O(n^2) pair loop;
- E[Brier] = mean p (1 - p), E[log loss] = mean binary entropy of p.

Ratios (precision aside, whose denominator is fixed) are estimated as ratios of expectations; they are
consistent as n grows. A Monte-Carlo band (outcomes drawn from Bernoulli(p), ``n_simulations`` times) gives
the range the realized figure should fall in if the model is still calibrated: a realized value outside it is
evidence of decay, not noise.

The estimate is only as good as the calibration: ``fit`` on a labelled reference window reports the realized
metrics beside the estimates there, and can optionally re-calibrate (isotonic) before estimating, as NannyML
does. CBPE cannot see concept drift that leaves the score distribution unchanged; realized metrics remain the
judge once labels mature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from leadscore.core import canonical
from leadscore.monitoring._common import (
    MonitoringInputError,
    as_labels_and_scores,
    as_probabilities,
    to_jsonable,
)
from leadscore.monitoring.metrics import _ranking_stats, _rates, evaluate_scores

logger = logging.getLogger(__name__)


def expected_auc(p: np.ndarray, score: np.ndarray | None = None) -> float:
    """Expected ROC AUC of ranking by ``score`` (default ``p``) when outcomes are Bernoulli(p).

    Pairs of a lead with itself are excluded from numerator and denominator (a lead cannot be both the
    positive and the negative of a pair).
    """
    p = as_probabilities(p)
    s = p if score is None else np.asarray(score, dtype=np.float64)
    if s.shape != p.shape:
        raise MonitoringInputError(f"score and probability lengths differ: {s.size} vs {p.size}")
    if p.size < 2:
        return float("nan")
    raw = float(_ranking_stats(s, p[None, :], (1.0 - p)[None, :])["auc"][0])
    total_pos, total_neg = p.sum(), (1.0 - p).sum()
    self_pairs = float(np.sum(p * (1.0 - p)))
    den = total_pos * total_neg - self_pairs
    if not np.isfinite(raw) or den <= 0:
        return float("nan")
    # Each lead sits in its own tie group, where _ranking_stats counted its self-pair with weight 1/2.
    return float((raw * total_pos * total_neg - 0.5 * self_pairs) / den)


def expected_metrics(
    p: np.ndarray,
    *,
    threshold: float | None = None,
    predicted: np.ndarray | None = None,
    score: np.ndarray | None = None,
) -> dict[str, float]:
    """Closed-form expected metrics of a window of calibrated probabilities.

    Args:
        p: calibrated probabilities.
        threshold: decision rule ``p >= threshold`` for the expected confusion matrix.
        predicted: boolean decisions instead of a threshold (e.g. the bundle's ``is_mql``); wins over
        threshold.
        score: ranking score when it differs from ``p`` (default ``p``).

    Returns:
        n, expected_positives, expected_base_rate, expected_auc, expected_brier, expected_log_loss and, with a
        decision rule, expected_tp / fp / fn / tn, expected_precision, expected_recall, expected_f1,
        expected_accuracy, expected_specificity, predicted_positive_rate.
    """
    p = as_probabilities(p)
    n = p.size
    out: dict[str, float] = {"n": n}
    if n == 0:
        return out
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    out.update(
        {
            "expected_positives": float(p.sum()),
            "expected_base_rate": float(p.mean()),
            "expected_auc": expected_auc(p, score),
            "expected_brier": float(np.mean(p * (1.0 - p))),
            "expected_log_loss": float(-np.mean(p * np.log(pc) + (1.0 - p) * np.log1p(-pc))),
        }
    )
    decision = _decisions(p, threshold, predicted)
    if decision is not None:
        rates = _rates(
            float(p[decision].sum()),
            float((1.0 - p[decision]).sum()),
            float(p[~decision].sum()),
            float((1.0 - p[~decision]).sum()),
        )
        # predicted_positive_rate is known exactly, not an expectation; everything else is.
        out.update({(k if k == "predicted_positive_rate" else f"expected_{k}"): v for k, v in rates.items()})
    return out


def _decisions(p: np.ndarray, threshold: float | None, predicted: np.ndarray | None) -> np.ndarray | None:
    if predicted is not None:
        decision = np.asarray(predicted).astype(bool).reshape(-1)
        if decision.shape != p.shape:
            raise MonitoringInputError(
                f"prediction and probability lengths differ: {decision.size} vs {p.size}"
            )
        return decision
    if threshold is not None:
        return p >= threshold
    return None


def simulate_metric_band(
    p: np.ndarray,
    *,
    threshold: float | None = None,
    predicted: np.ndarray | None = None,
    score: np.ndarray | None = None,
    n_simulations: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Range of realized metrics to expect if outcomes are Bernoulli(p): Monte-Carlo percentiles.

    All simulations share one sort (the weighted ranking kernel of ``metrics``), so 200 draws of 50k leads
    take about a second.

    Returns:
        metric -> {"mean", "low", "high"} for auc, pr_auc, base_rate, brier and, with a decision rule,
        precision and recall.
    """
    p = as_probabilities(p)
    s = p if score is None else np.asarray(score, dtype=np.float64)
    decision = _decisions(p, threshold, predicted)
    n = p.size
    if n == 0 or n_simulations <= 0:
        return {}
    rng = np.random.default_rng(seed)
    block = max(1, 2_000_000 // n)
    collected: dict[str, list[np.ndarray]] = {}
    done = 0
    while done < n_simulations:
        b = min(block, n_simulations - done)
        outcomes = (rng.random((b, n)) < p).astype(np.float64)
        stats = _ranking_stats(s, outcomes, 1.0 - outcomes)
        batch = {
            "auc": stats["auc"],
            "pr_auc": stats["pr_auc"],
            "base_rate": outcomes.mean(axis=1),
            "brier": ((outcomes - p) ** 2).mean(axis=1),
        }
        if decision is not None:
            tp = outcomes[:, decision].sum(axis=1)
            n_pred = decision.sum()
            pos = outcomes.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                batch["precision"] = tp / n_pred if n_pred else np.full(b, np.nan)
                batch["recall"] = np.where(pos > 0, tp / np.where(pos > 0, pos, 1), np.nan)
        for k, v in batch.items():
            collected.setdefault(k, []).append(v)
        done += b
    alpha = (1.0 - confidence) / 2.0
    band: dict[str, dict[str, float]] = {}
    for k, chunks in collected.items():
        values = np.concatenate(chunks)
        values = values[np.isfinite(values)]
        if values.size == 0:
            band[k] = {"mean": float("nan"), "low": float("nan"), "high": float("nan")}
            continue
        low, high = np.quantile(values, [alpha, 1 - alpha])
        band[k] = {"mean": float(values.mean()), "low": float(low), "high": float(high)}
    return band


@dataclass
class CBPEResult:
    """Label-free performance estimate of one window (and optionally of its chunks)."""

    metrics: dict[str, float]
    band: dict[str, dict[str, float]]
    chunks: pd.DataFrame | None = None
    reference: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return to_jsonable(
            {
                "metrics": self.metrics,
                "band": self.band,
                "chunks": self.chunks,
                "reference": self.reference,
                "settings": self.settings,
            }
        )


class CBPE:
    """Confidence-based performance estimator with the ``fit(reference)`` / ``calculate(current)`` contract.

    Args:
        threshold: decision threshold on the probability for the expected confusion matrix (e.g. the MQL
            threshold); ignored for rows where ``predicted_column`` is present.
        probability_column: calibrated probability column.
        label_column: outcome column of the reference window.
        predicted_column: boolean decision column (e.g. ``is_mql``) to use instead of the threshold.
        recalibrate: fit an isotonic map probability -> outcome on the reference and estimate with the mapped
            probabilities (use when the scores are known to be off, e.g. an old model on a new population).
        n_simulations: Monte-Carlo draws for the expected-range band (0 disables it).
        seed: seed of those draws.
        confidence: band coverage.
    """

    def __init__(
        self,
        threshold: float | None = None,
        *,
        probability_column: str = "probability",
        label_column: str = canonical.LABEL,
        predicted_column: str | None = None,
        recalibrate: bool = False,
        n_simulations: int = 200,
        seed: int = 0,
        confidence: float = 0.95,
    ) -> None:
        self.threshold = threshold
        self.probability_column = probability_column
        self.label_column = label_column
        self.predicted_column = predicted_column
        self.recalibrate = recalibrate
        self.n_simulations = n_simulations
        self.seed = seed
        self.confidence = confidence
        self._calibrator: IsotonicRegression | None = None
        self.reference_summary: dict[str, Any] | None = None
        self._fitted = False

    def _probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        if self.probability_column not in frame.columns:
            raise MonitoringInputError(f"CBPE needs a {self.probability_column!r} column")
        p = as_probabilities(frame[self.probability_column].to_numpy(), self.probability_column)
        if self._calibrator is not None:
            return np.clip(self._calibrator.predict(p), 0.0, 1.0)
        return p

    def _predicted(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self.predicted_column and self.predicted_column in frame.columns:
            return frame[self.predicted_column].to_numpy().astype(bool)
        return None

    def fit(self, reference: pd.DataFrame) -> CBPE:
        """Check (and optionally fix) calibration on a labelled reference window.

        Stores ``reference_summary``: realized vs estimated AUC, precision and base rate on the reference, so
        a report can show how trustworthy the estimates are before using them.
        """
        if not isinstance(reference, pd.DataFrame) or reference.empty:
            raise MonitoringInputError("CBPE reference must be a non-empty DataFrame")
        if self.label_column not in reference.columns:
            raise MonitoringInputError(f"CBPE reference needs a {self.label_column!r} column")
        if self.probability_column not in reference.columns:
            raise MonitoringInputError(f"CBPE reference needs a {self.probability_column!r} column")
        y, raw_p = as_labels_and_scores(
            reference[self.label_column].to_numpy(), reference[self.probability_column].to_numpy()
        )
        self._calibrator = None
        if self.recalibrate:
            self._calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw_p, y)
        p = self._probabilities(reference)
        predicted = self._predicted(reference)
        estimated = expected_metrics(p, threshold=self.threshold, predicted=predicted, score=raw_p)
        realized = evaluate_scores(y, raw_p, threshold=None)
        decision = _decisions(p, self.threshold, predicted)
        summary: dict[str, Any] = {
            "n": int(y.size),
            "realized_auc": realized["auc"],
            "estimated_auc": estimated["expected_auc"],
            "realized_base_rate": realized["base_rate"],
            "estimated_base_rate": estimated["expected_base_rate"],
            "ece": realized["ece"],
            "calibration_slope": realized["calibration_slope"],
        }
        if decision is not None and decision.any():
            summary["realized_precision"] = float(y[decision].mean())
            summary["estimated_precision"] = estimated["expected_precision"]
        self.reference_summary = to_jsonable(summary)
        gap = abs(summary["realized_auc"] - summary["estimated_auc"])
        if np.isfinite(gap) and gap > 0.05:
            logger.warning(
                "CBPE: estimated AUC %.3f differs from realized %.3f on the reference: miscalibrated scores?",
                summary["estimated_auc"],
                summary["realized_auc"],
            )
        self._fitted = True
        return self

    def calculate(self, current: pd.DataFrame, chunk_column: str | None = None) -> CBPEResult:
        """Estimate performance on ``current`` (labels, if any, are ignored), overall and per chunk.

        ``fit`` is optional: without it the probabilities are trusted as calibrated.
        """
        if not isinstance(current, pd.DataFrame) or current.empty:
            raise MonitoringInputError("CBPE current window must be a non-empty DataFrame")
        if self.probability_column not in current.columns:
            raise MonitoringInputError(f"CBPE current window needs a {self.probability_column!r} column")
        raw_p = as_probabilities(current[self.probability_column].to_numpy(), self.probability_column)
        p = self._probabilities(current)
        predicted = self._predicted(current)
        metrics = expected_metrics(p, threshold=self.threshold, predicted=predicted, score=raw_p)
        band = simulate_metric_band(
            p,
            threshold=self.threshold,
            predicted=predicted,
            score=raw_p,
            n_simulations=self.n_simulations,
            seed=self.seed,
            confidence=self.confidence,
        )
        chunks = None
        if chunk_column is not None:
            if chunk_column not in current.columns:
                raise MonitoringInputError(f"CBPE chunk column {chunk_column!r} is not in the current window")
            rows = []
            keys = current[chunk_column].to_numpy()
            for key in pd.unique(keys):
                mask = keys == key
                m = expected_metrics(
                    p[mask],
                    threshold=self.threshold,
                    predicted=None if predicted is None else predicted[mask],
                    score=raw_p[mask],
                )
                rows.append({"chunk": key, **m})
            chunks = pd.DataFrame(rows).sort_values("chunk", kind="stable").reset_index(drop=True)
        settings = {
            "threshold": self.threshold,
            "predicted_column": self.predicted_column,
            "recalibrated": self._calibrator is not None,
            "n_simulations": self.n_simulations,
            "confidence": self.confidence,
        }
        return CBPEResult(
            metrics=metrics, band=band, chunks=chunks, reference=self.reference_summary, settings=settings
        )
