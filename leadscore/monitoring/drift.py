"""Input and score drift between a reference window (the model's test period) and a current window.

Conventions (PRODUCT.md, "Monitoring conventions"):

- Population stability index, PSI = sum (cur - ref) * ln(cur / ref) over bins fitted on the reference:
  < 0.10 little change (verdict ``stable``), 0.10-0.25 moderate (``moderate``), > 0.25 act (``significant``)
  (Yurdakul 2018). Fixed thresholds ignore sample size: with k bins PSI has a noise floor of about
  (k - 1) * (1 / n_ref + 1 / n_cur) even when nothing changed, which matters below ~1,000 rows.
- Evidently's defaults, computed beside PSI: KS (numeric) / chi-squared (categorical) p < 0.05 when either
  window has <= 1,000 rows; normed Wasserstein (numeric, divided by the reference standard deviation) or
  Jensen-Shannon distance (categorical) >= 0.1 above that.
- A data set drifts when at least half of its features drift.

Which signal sets ``drifted`` is ``DriftThresholds.method``: ``"psi"`` (default) flags PSI > 0.25 and, on
small samples, also requires the KS / chi-squared test to reject (p < 0.05) so that PSI's noise floor alone
cannot raise an alarm; ``"statistical"`` follows Evidently exactly (test on small samples, distance >= 0.1
above).

Binning: numeric features get quantile bins fitted on the reference (about ``n_bins`` equal-count bins; ties
merge bins) plus one bin for missing values, so a jump in missing enrichment shows up as drift. Categorical
features keep the reference's most frequent categories (up to ``max_categories``); everything else, including
categories never seen in the reference, falls into ``other``, and missing values into ``(missing)``. Shares
are floored at ``epsilon`` (1e-4) before taking logs so empty bins give a large but finite PSI.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from leadscore.core import canonical
from leadscore.monitoring._common import MonitoringInputError, as_probabilities, to_jsonable

logger = logging.getLogger(__name__)

OTHER = "other"
MISSING = "(missing)"

# Columns that are identifiers, outcomes or model outputs, never input features to monitor by default.
DEFAULT_EXCLUDE = frozenset(
    {
        canonical.LEAD_ID,
        *canonical.OUTCOME_ONLY_COLUMNS,
        canonical.CREATED_AT,
        canonical.FIRST_CONTACT_AT,
        "as_of",
        "split",
        "probability",
        "score",
        "band",
        "is_mql",
        "is_sql",
        "features_hash",
        "reasons_positive",
        "reasons_negative",
        "scored_at",
    }
)


@dataclass(frozen=True)
class DriftThresholds:
    """Thresholds and binning of the drift monitors (defaults are the conventions in the module docstring)."""

    psi_moderate: float = 0.10
    psi_act: float = 0.25
    method: Literal["psi", "statistical"] = "psi"
    p_value: float = 0.05
    distance: float = 0.10
    small_sample_rows: int = 1000
    dataset_share: float = 0.5
    n_bins: int = 10
    epsilon: float = 1e-4
    max_categories: int = 50

    def verdict(self, psi: float) -> str:
        """Map a PSI to ``stable`` / ``moderate`` / ``significant``."""
        if not np.isfinite(psi):
            return "unknown"
        if psi < self.psi_moderate:
            return "stable"
        if psi <= self.psi_act:
            return "moderate"
        return "significant"


def population_stability_index(ref_share: np.ndarray, cur_share: np.ndarray, epsilon: float = 1e-4) -> float:
    """PSI between two share vectors over the same bins, shares floored at ``epsilon`` and renormalised."""
    r = np.maximum(np.asarray(ref_share, dtype=np.float64), epsilon)
    c = np.maximum(np.asarray(cur_share, dtype=np.float64), epsilon)
    r, c = r / r.sum(), c / c.sum()
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass
class _FeatureBins:
    """Reference-fitted binning of one feature."""

    name: str
    kind: Literal["numeric", "categorical"]
    labels: list[str]
    ref_counts: np.ndarray
    edges: np.ndarray | None = None  # numeric: interior cut points
    categories: list[str] | None = None  # categorical: kept categories
    ref_values: np.ndarray | None = None  # numeric: non-missing reference values, for Wasserstein / KS
    ref_std: float = float("nan")

    def codes(self, values: pd.Series) -> np.ndarray:
        """Bin index of each value (last bin: missing; for categoricals the one before it: ``other``)."""
        if self.kind == "numeric":
            assert self.edges is not None
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            idx = np.searchsorted(self.edges, x, side="right")
            idx[np.isnan(x)] = len(self.labels) - 1
            return idx
        assert self.categories is not None
        missing = values.isna().to_numpy()
        as_text = values.astype("string")
        codes = pd.Categorical(as_text, categories=self.categories).codes.astype(np.intp)
        codes[codes < 0] = len(self.categories)  # other (unseen or beyond max_categories)
        codes[missing] = len(self.categories) + 1
        return codes

    def counts(self, values: pd.Series) -> np.ndarray:
        """Rows per bin."""
        return np.bincount(self.codes(values), minlength=len(self.labels)).astype(np.int64)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _fit_numeric(name: str, values: pd.Series, n_bins: int) -> _FeatureBins:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = x[~np.isnan(x)]
    if finite.size:
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    else:
        edges = np.array([], dtype=np.float64)
    bounds = [-np.inf, *edges.tolist(), np.inf]
    labels = [f"[{_fmt(lo)}, {_fmt(hi)})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)] + [MISSING]
    fb = _FeatureBins(
        name=name,
        kind="numeric",
        labels=labels,
        ref_counts=np.zeros(len(labels), dtype=np.int64),
        edges=edges,
        ref_values=np.sort(finite),
        ref_std=float(finite.std()) if finite.size else float("nan"),
    )
    fb.ref_counts = fb.counts(values)
    return fb


def _fit_categorical(name: str, values: pd.Series, max_categories: int) -> _FeatureBins:
    freq = values.dropna().astype("string").value_counts()
    # Most frequent first; the sort is stable on ties so refits on the same data give the same bins.
    categories = [str(c) for c in freq.index[:max_categories]]
    labels = [*categories, OTHER, MISSING]
    fb = _FeatureBins(
        name=name,
        kind="categorical",
        labels=labels,
        ref_counts=np.zeros(len(labels), np.int64),
        categories=categories,
    )
    fb.ref_counts = fb.counts(values)
    return fb


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


@dataclass
class DriftResult:
    """Outcome of ``DriftMonitor.calculate``: one row per feature plus the data-set and score verdicts."""

    features: pd.DataFrame
    dataset_drift: bool
    n_drifted: int
    share_drifted: float
    n_reference: int
    n_current: int
    thresholds: DriftThresholds
    score: dict[str, Any] | None = None
    bins: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features, worst PSI first."""
        rows = self.features[self.features["drifted"]].sort_values("psi", ascending=False)
        return rows["feature"].tolist()

    def to_dict(self, include_bins: bool = False) -> dict[str, Any]:
        """JSON-able form, with the thresholds used, so a stored snapshot explains itself."""
        out: dict[str, Any] = {
            "dataset_drift": self.dataset_drift,
            "n_features": len(self.features),
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "thresholds": asdict(self.thresholds),
            "features": self.features,
            "score": self.score,
        }
        if include_bins:
            out["bins"] = self.bins
        return to_jsonable(out)


class DriftMonitor:
    """Per-feature drift of a current window against a reference window (``fit`` / ``calculate``).

    Args:
        features: columns to monitor; default every column of the reference except identifiers, outcomes,
            timestamps and model outputs (``DEFAULT_EXCLUDE``).
        categorical: columns to treat as categorical even if numeric (e.g. codes); non-numeric and boolean
            columns are categorical anyway.
        score_column: model probability column; when present in both windows its PSI is reported as score
            drift (it is not counted among the features for the data-set verdict).
        thresholds: see ``DriftThresholds``.
    """

    def __init__(
        self,
        features: list[str] | None = None,
        *,
        categorical: list[str] | None = None,
        score_column: str | None = "probability",
        thresholds: DriftThresholds | None = None,
    ) -> None:
        self.features = list(features) if features is not None else None
        self.categorical = set(categorical or [])
        self.score_column = score_column
        self.thresholds = thresholds or DriftThresholds()
        self._bins: dict[str, _FeatureBins] = {}
        self._score_bins: _FeatureBins | None = None
        self._n_reference = 0

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` has run."""
        return self._n_reference > 0

    def fit(self, reference: pd.DataFrame) -> DriftMonitor:
        """Fit bins on the reference window (at least one row)."""
        if not isinstance(reference, pd.DataFrame) or reference.empty:
            raise MonitoringInputError("drift reference must be a non-empty DataFrame")
        if self.features is None:
            names = [
                c
                for c in reference.columns
                if c not in DEFAULT_EXCLUDE
                and c != self.score_column
                and not pd.api.types.is_datetime64_any_dtype(reference[c])
            ]
        else:
            missing = [c for c in self.features if c not in reference.columns]
            if missing:
                raise MonitoringInputError(f"drift reference lacks feature columns: {missing}")
            names = self.features
        th = self.thresholds
        self._bins = {}
        for name in names:
            col = reference[name]
            if pd.api.types.is_datetime64_any_dtype(col):
                logger.info("drift: skipping datetime column %s", name)
                continue
            if _is_numeric(col) and name not in self.categorical:
                self._bins[name] = _fit_numeric(name, col, th.n_bins)
            else:
                self._bins[name] = _fit_categorical(name, col, th.max_categories)
        self._score_bins = None
        if self.score_column and self.score_column in reference.columns:
            as_probabilities(reference[self.score_column].to_numpy(), self.score_column)
            self._score_bins = _fit_numeric(self.score_column, reference[self.score_column], th.n_bins)
        self._n_reference = len(reference)
        logger.debug("drift monitor fitted on %d rows, %d features", len(reference), len(self._bins))
        return self

    def calculate(self, current: pd.DataFrame) -> DriftResult:
        """Compare ``current`` with the fitted reference."""
        if not self.is_fitted:
            raise MonitoringInputError("drift monitor is not fitted: call fit(reference) first")
        if not isinstance(current, pd.DataFrame) or current.empty:
            raise MonitoringInputError("drift current window must be a non-empty DataFrame")
        missing = [c for c in self._bins if c not in current.columns]
        if missing:
            raise MonitoringInputError(f"current window lacks monitored feature columns: {missing}")
        rows = []
        bins: dict[str, pd.DataFrame] = {}
        for name, fb in self._bins.items():
            row, table = _compare(fb, current[name], self._n_reference, self.thresholds)
            rows.append(row)
            bins[name] = table
        columns = [
            "feature",
            "kind",
            "psi",
            "verdict",
            "drifted",
            "js_distance",
            "wasserstein",
            "ks_pvalue",
            "chi2_pvalue",
            "reference_missing_share",
            "current_missing_share",
            "top_bin",
            "top_bin_reference_share",
            "top_bin_current_share",
        ]
        table = pd.DataFrame(rows, columns=columns)
        n_drifted = int(table["drifted"].sum())
        share = n_drifted / len(table) if len(table) else 0.0
        score: dict[str, Any] | None = None
        score_col = self.score_column
        if self._score_bins is not None and score_col is not None and score_col in current.columns:
            current_p = as_probabilities(current[score_col].to_numpy(), score_col)
            row, table_s = _compare(self._score_bins, current[score_col], self._n_reference, self.thresholds)
            keys = ("psi", "verdict", "drifted", "js_distance", "wasserstein", "ks_pvalue")
            score = to_jsonable({k: row[k] for k in keys})
            ref_values = self._score_bins.ref_values
            score["reference_mean"] = float(ref_values.mean()) if ref_values is not None else None
            score["current_mean"] = float(current_p.mean())
            bins[score_col] = table_s
        return DriftResult(
            features=table,
            dataset_drift=bool(len(table) > 0 and share >= self.thresholds.dataset_share),
            n_drifted=n_drifted,
            share_drifted=share,
            n_reference=self._n_reference,
            n_current=len(current),
            thresholds=self.thresholds,
            score=score,
            bins=bins,
        )


def _compare(
    fb: _FeatureBins, values: pd.Series, n_ref: int, th: DriftThresholds
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Drift statistics of one feature and its per-bin share table."""
    cur_counts = fb.counts(values)
    n_cur = int(cur_counts.sum())
    ref_share = fb.ref_counts / max(n_ref, 1)
    cur_share = cur_counts / max(n_cur, 1)
    psi = population_stability_index(ref_share, cur_share, th.epsilon)
    js = float(jensenshannon(np.maximum(ref_share, th.epsilon), np.maximum(cur_share, th.epsilon), base=2))
    small = min(n_ref, n_cur) <= th.small_sample_rows
    wass = ks_p = chi2_p = float("nan")
    if fb.kind == "numeric":
        assert fb.ref_values is not None
        cur_values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        cur_values = cur_values[~np.isnan(cur_values)]
        if fb.ref_values.size and cur_values.size:
            raw = wasserstein_distance(fb.ref_values, cur_values)
            wass = raw / fb.ref_std if fb.ref_std > 0 else (0.0 if raw == 0 else float("inf"))
            if small:
                ks_p = float(ks_2samp(fb.ref_values, cur_values).pvalue)
        distance = wass
        p_value = ks_p
    else:
        if small:
            observed = np.vstack([fb.ref_counts, cur_counts])
            observed = observed[:, observed.sum(axis=0) > 0]
            chi2_p = float(chi2_contingency(observed)[1]) if observed.shape[1] > 1 else 1.0
        distance = js
        p_value = chi2_p
    if th.method == "statistical":
        drifted = (p_value < th.p_value) if small else bool(distance >= th.distance)
    else:
        drifted = psi > th.psi_act and (not small or p_value < th.p_value)
    contrib = (np.maximum(cur_share, th.epsilon) - np.maximum(ref_share, th.epsilon)) * np.log(
        np.maximum(cur_share, th.epsilon) / np.maximum(ref_share, th.epsilon)
    )
    top = int(np.argmax(contrib))
    row = {
        "feature": fb.name,
        "kind": fb.kind,
        "psi": psi,
        "verdict": th.verdict(psi),
        "drifted": bool(drifted),
        "js_distance": js,
        "wasserstein": wass,
        "ks_pvalue": ks_p,
        "chi2_pvalue": chi2_p,
        "reference_missing_share": float(ref_share[-1]),
        "current_missing_share": float(cur_share[-1]),
        "top_bin": fb.labels[top],
        "top_bin_reference_share": float(ref_share[top]),
        "top_bin_current_share": float(cur_share[top]),
    }
    table = pd.DataFrame(
        {
            "bin": fb.labels,
            "reference_count": fb.ref_counts,
            "current_count": cur_counts,
            "reference_share": ref_share,
            "current_share": cur_share,
            "psi_contribution": contrib,
        }
    )
    return row, table


def score_drift(
    reference: np.ndarray, current: np.ndarray, thresholds: DriftThresholds | None = None
) -> dict[str, Any]:
    """PSI (and companions) of the model probability between two windows, bins fitted on the reference.

    A shift in the score distribution is the earliest warning available: it needs neither labels nor feature
    access, and a PSI > 0.25 means band sizes and MQL volumes have moved materially.
    """
    th = thresholds or DriftThresholds()
    ref = pd.Series(as_probabilities(reference, "reference probability"))
    cur = pd.Series(as_probabilities(current, "current probability"))
    if ref.empty or cur.empty:
        raise MonitoringInputError("score drift needs non-empty reference and current windows")
    fb = _fit_numeric("probability", ref, th.n_bins)
    row, _ = _compare(fb, cur, len(ref), th)
    return to_jsonable(
        {
            "psi": row["psi"],
            "verdict": row["verdict"],
            "drifted": row["drifted"],
            "js_distance": row["js_distance"],
            "wasserstein": row["wasserstein"],
            "ks_pvalue": row["ks_pvalue"],
            "reference_mean": float(ref.mean()),
            "current_mean": float(cur.mean()),
            "n_reference": len(ref),
            "n_current": len(cur),
            "thresholds": {"psi_moderate": th.psi_moderate, "psi_act": th.psi_act},
        }
    )
