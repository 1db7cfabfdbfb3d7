"""Quarterly model review: realized accuracy where outcomes have matured, CBPE estimates where they have not.

The review follows PRODUCT.md's "periodic model review" (SR 11-7 practice): discrimination with bootstrap
confidence intervals, proper scores, calibration, lift and gains by decile, conversion per band, the confusion
matrix at the MQL threshold, per-segment tables with minimum counts, score and feature PSI, business KPIs, and
the label-free estimate beside the realized figure for every recent cohort. It ends with recommendations, each
quoting the rule that produced it, so RevOps can see why the report says "retrain".

Cohorts and maturity. Each lead belongs to the quarter it was scored in (``scored_at``, else ``created_at``).
Outcomes arrive weeks or months later, and early outcomes are biased (quick losses close first), so a lead
counts as *matured* only once ``maturity_days`` have passed between its creation and the report's ``as_of``
moment and it has closed by then (an outcome recorded after ``as_of`` was not known yet); its label is then
taken as final. Younger leads are never judged on partial labels: they get CBPE estimates. Realized metrics
are reported for the latest cohort (quarter) with at least ``min_segment_count`` matured leads, preferring one
at least 90% matured, and shown beside the estimate that cohort got while it was immature (CBPE depends on the
scores only, so it is exactly the figure last quarter's report showed).

Everything is computed from the frame handed in; nothing is read from disk here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.params import ReportParams
from leadscore.core.timestamps import PLAUSIBLE_YEARS, RANGE_TEXT, datetime64_ns, naive_utc_series
from leadscore.monitoring._common import MonitoringInputError, to_jsonable
from leadscore.monitoring.calibration import ece_noise_floor
from leadscore.monitoring.cbpe import CBPE, simulate_metric_band
from leadscore.monitoring.drift import DEFAULT_EXCLUDE, DriftMonitor, DriftResult, DriftThresholds
from leadscore.monitoring.metrics import (
    ScoreTables,
    bootstrap_ci,
    bootstrap_metrics,
    confusion_from_predictions,
    decile_table,
    evaluate_scores,
    score_tables,
)

logger = logging.getLogger(__name__)

SCORED_AT = "scored_at"
PROBABILITY = "probability"
BAND = "band"
IS_MQL = "is_mql"
IS_SQL = "is_sql"
MISSING_SEGMENT = "(missing)"
# Helper columns added by the report itself; never monitored for drift.
_QUARTER = "_quarter"
_MONTH = "_month"
_MATURED = "_matured"
_REPORT_COLUMNS = {_QUARTER, _MONTH, _MATURED}
# The headline realized cohort is the latest one with at least this share of matured leads (if any has).
REALIZED_MIN_MATURED_SHARE = 0.9
# Report quarters are CRM history: anything outside the plausible years is a typo.
QUARTER_YEARS = PLAUSIBLE_YEARS


class ReportInputError(MonitoringInputError):
    """The scored-leads frame cannot produce a report (missing columns, no leads in the quarter)."""


@dataclass(frozen=True)
class Recommendation:
    """One recommended action and the rule that produced it."""

    action: str  # retrain | recalibrate | review_bands | watch | investigate | none
    message: str  # e.g. "Retrain: realized AUC 0.62 < 0.70 floor"
    rule: str  # the params key and comparison, e.g. "realized_auc < report.min_auc"
    subject: str = "model"  # "model", "score" or a segment such as "industry=retail"
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON."""
        return to_jsonable(asdict(self))


@dataclass
class QuarterlyReport:
    """Everything the HTML and JSON renderings show (tables as DataFrames, figures drawn at render time)."""

    quarter: str
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    as_of: pd.Timestamp
    summary: dict[str, Any]
    kpis: dict[str, Any]
    bands: pd.DataFrame
    cohorts: pd.DataFrame
    realized: dict[str, Any] | None
    estimated: dict[str, Any] | None
    deciles: pd.DataFrame | None
    curves: ScoreTables | None
    segments: dict[str, pd.DataFrame]
    drift: dict[str, Any]
    recommendations: list[Recommendation]
    settings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    # Where the scores come from, in words (e.g. "backtest: the test period scored by ..."); shown on top.
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able twin of the HTML report (curves included, figures not)."""
        curves = None
        if self.curves is not None:
            curves = {
                "roc": self.curves.roc[["fpr", "tpr"]],
                "pr": self.curves.pr[["recall", "precision"]],
                "gains": self.curves.gains,
                "reliability": self.curves.reliability,
            }
        return to_jsonable(
            {
                "quarter": self.quarter,
                "period_start": self.period_start,
                "period_end": self.period_end,
                "as_of": self.as_of,
                "model": self.model,
                "source": self.source,
                "summary": self.summary,
                "recommendations": [r.to_dict() for r in self.recommendations],
                "kpis": self.kpis,
                "bands": self.bands,
                "cohorts": self.cohorts,
                "realized": self.realized,
                "estimated": self.estimated,
                "deciles": self.deciles,
                "curves": curves,
                "segments": self.segments,
                "drift": self.drift,
                "settings": self.settings,
            }
        )


# ----------------------------------------------------------------------------------------------------
# input preparation
# ----------------------------------------------------------------------------------------------------
def parse_quarter(quarter: str) -> pd.Period:
    """Parse "2025Q2" / "2025-Q2" / "2025q2" into a quarterly Period."""
    text = str(quarter).strip().upper().replace("-", "").replace(" ", "")
    try:
        period = pd.Period(text, freq="Q")
    except (ValueError, TypeError):
        raise ReportInputError(f"quarter {quarter!r} is not like 2025Q2") from None
    # Years 1 and 9999 parse, but their window's neighbours (years 0, 10000) are no datetime.
    if not QUARTER_YEARS[0] <= period.year <= QUARTER_YEARS[1]:
        raise ReportInputError(
            f"quarter {quarter!r}: the year must be within {QUARTER_YEARS[0]}-{QUARTER_YEARS[1]}"
        )
    return period


def _timestamps(frame: pd.DataFrame, column: str) -> pd.Series:
    try:
        values = pd.to_datetime(frame[column], errors="raise")
    except (ValueError, TypeError):
        raise ReportInputError(f"scored leads: column {column!r} is not a timestamp") from None
    values = naive_utc_series(values)
    # CRM placeholders ("9999-12-31" = no date) parse, but the nanosecond clock cannot hold them: they count
    # as missing (a lead without a real close date has not closed), with a warning saying how many.
    ns, beyond = datetime64_ns(values.to_numpy(), column, coerce=True)
    if beyond.any():
        logger.warning(
            "scored leads: %d %s values outside %s (placeholders such as 9999-12-31) read as missing",
            int(beyond.sum()),
            column,
            RANGE_TEXT,
        )
    return pd.Series(ns.view("datetime64[ns]"), index=frame.index, name=column)


def prepare_scored(scored: pd.DataFrame) -> pd.DataFrame:
    """Validate and normalise the scored-leads frame (a copy): timestamps, 0/1-or-NaN label, quarter.

    Required: lead_id, probability, and scored_at or created_at. The label comes from ``label`` (0/1, NaN when
    unknown) or else from ``outcome`` (won -> 1, lost -> 0, anything else unknown).
    """
    if not isinstance(scored, pd.DataFrame) or scored.empty:
        raise ReportInputError("scored leads: expected a non-empty DataFrame")
    missing = [c for c in (canonical.LEAD_ID, PROBABILITY) if c not in scored.columns]
    if SCORED_AT not in scored.columns and canonical.CREATED_AT not in scored.columns:
        missing.append(f"{SCORED_AT} or {canonical.CREATED_AT}")
    if missing:
        raise ReportInputError(f"scored leads: missing columns {missing}")
    frame = scored.copy()
    p = pd.to_numeric(frame[PROBABILITY], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ReportInputError("scored leads: probability must be a number in [0, 1] on every row")
    frame[PROBABILITY] = p
    if canonical.CREATED_AT in frame.columns:
        frame[canonical.CREATED_AT] = _timestamps(frame, canonical.CREATED_AT)
    frame[SCORED_AT] = _timestamps(frame, SCORED_AT if SCORED_AT in frame.columns else canonical.CREATED_AT)
    if frame[SCORED_AT].isna().any():
        raise ReportInputError(
            f"scored leads: {int(frame[SCORED_AT].isna().sum())} rows without a scoring time"
        )
    for column in (canonical.CLOSED_AT, canonical.FIRST_CONTACT_AT):
        if column in frame.columns:
            frame[column] = _timestamps(frame, column)
    if canonical.LABEL in frame.columns:
        label = pd.to_numeric(frame[canonical.LABEL], errors="coerce").astype("float64")
    elif canonical.OUTCOME in frame.columns:
        outcome = frame[canonical.OUTCOME].astype("string").str.lower()
        label = pd.Series(np.nan, index=frame.index)
        label[outcome == canonical.OUTCOME_WON] = 1.0
        label[outcome == canonical.OUTCOME_LOST] = 0.0
    else:
        label = pd.Series(np.nan, index=frame.index)
    bad = label.notna() & ~label.isin([0.0, 1.0])
    if bad.any():
        raise ReportInputError(f"scored leads: label must be 0, 1 or missing ({int(bad.sum())} other values)")
    frame[canonical.LABEL] = label.to_numpy(dtype=np.float64)
    if IS_MQL in frame.columns:
        frame[IS_MQL] = frame[IS_MQL].fillna(False).astype(bool)
    if IS_SQL in frame.columns:
        frame[IS_SQL] = frame[IS_SQL].fillna(False).astype(bool)
    frame[_QUARTER] = frame[SCORED_AT].dt.to_period("Q")
    frame[_MONTH] = frame[SCORED_AT].dt.strftime("%Y-%m")
    return frame


# ----------------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------------
def _finite(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and math.isfinite(float(value))


def _both_classes(y: np.ndarray) -> bool:
    return y.size > 0 and 0 < y.sum() < y.size


def _cohort_row(cohort: pd.DataFrame, quarter: pd.Period, params: ReportParams, seed: int) -> dict[str, Any]:
    """Estimate (all leads, label-free) beside realized (matured leads) for one quarter's cohort."""
    mql = cohort[IS_MQL].to_numpy() if IS_MQL in cohort.columns else None
    est = (
        CBPE(predicted_column=IS_MQL if mql is not None else None, n_simulations=0).calculate(cohort).metrics
    )
    matured = cohort[cohort[_MATURED]]
    row: dict[str, Any] = {
        "quarter": str(quarter),
        "n": len(cohort),
        "n_matured": len(matured),
        "matured_share": len(matured) / len(cohort),
        "mql_rate": float(mql.mean()) if mql is not None else float("nan"),
        "estimated_base_rate": est["expected_base_rate"],
        "estimated_auc": est["expected_auc"],
        "estimated_mql_precision": est.get("expected_precision", float("nan")),
        "estimated_mql_recall": est.get("expected_recall", float("nan")),
    }
    y = matured[canonical.LABEL].to_numpy()
    if len(matured) >= params.min_segment_count and _both_classes(y):
        pm = matured[PROBABILITY].to_numpy()
        mql_m = matured[IS_MQL].to_numpy() if mql is not None else None
        ci = bootstrap_ci(y, pm, "auc", n_boot=params.bootstrap_samples, seed=seed)
        band = simulate_metric_band(
            pm, predicted=mql_m, n_simulations=max(params.bootstrap_samples, 50), seed=seed
        )
        row.update(
            {
                "realized_base_rate": float(y.mean()),
                "realized_auc": ci.estimate,
                "realized_auc_low": ci.low,
                "realized_auc_high": ci.high,
                "expected_auc_low": band["auc"]["low"],
                "expected_auc_high": band["auc"]["high"],
                "realized_within_expected": bool(band["auc"]["low"] <= ci.estimate <= band["auc"]["high"]),
            }
        )
        if mql_m is not None:
            conf = confusion_from_predictions(y, mql_m)
            row["realized_mql_precision"] = conf["precision"]
            row["realized_mql_recall"] = conf["recall"]
    return row


def _segment_labels(series: pd.Series) -> pd.Series:
    """Segment values as text, with missing values as their own segment."""
    text = series.astype("string")
    return text.fillna(MISSING_SEGMENT).astype(object)


def _segment_table(
    column: str,
    current: pd.DataFrame,
    realized: pd.DataFrame | None,
    baseline: pd.DataFrame | None,
    params: ReportParams,
    seed: int,
) -> pd.DataFrame:
    """Per-value table of a segment column: this quarter's mix and scores, realized accuracy if possible."""
    cur_key = _segment_labels(current[column])
    base_share: pd.Series | None = None
    if baseline is not None and column in baseline.columns and len(baseline):
        base_share = _segment_labels(baseline[column]).value_counts(normalize=True)
    grouped = current.groupby(cur_key, sort=False)
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "mean_probability": grouped[PROBABILITY].mean(),
        }
    )
    table["share"] = table["n"] / len(current)
    if IS_MQL in current.columns:
        table["mql_rate"] = grouped[IS_MQL].mean()
    if base_share is not None:
        table["baseline_share"] = base_share.reindex(table.index).fillna(0.0)
    rows: dict[str, dict[str, Any]] = {}
    if realized is not None and column in realized.columns:
        real_key = _segment_labels(realized[column])
        for value, part in realized.groupby(real_key, sort=False):
            y = part[canonical.LABEL].to_numpy()
            p = part[PROBABILITY].to_numpy()
            entry: dict[str, Any] = {
                "n_matured": len(part),
                "conversions": int(y.sum()),
                "win_rate": float(y.mean()),
                "calibration_in_the_large": float(p.mean() - y.mean()),
                "reportable": len(part) >= params.min_segment_count,
            }
            if entry["reportable"] and _both_classes(y):
                ci = bootstrap_ci(y, p, "auc", n_boot=params.bootstrap_samples, seed=seed)
                entry.update({"auc": ci.estimate, "auc_low": ci.low, "auc_high": ci.high})
            rows[str(value)] = entry
    if rows:
        realized_table = pd.DataFrame.from_dict(rows, orient="index")
        table = table.join(realized_table, how="outer")
        table["n"] = table["n"].fillna(0).astype(np.int64)
        table["n_matured"] = table["n_matured"].fillna(0).astype(np.int64)
        table["reportable"] = table["reportable"].fillna(False).astype(bool)
    table = table.rename_axis("segment").reset_index()
    table.insert(0, "column", column)
    return table.sort_values(["n", "segment"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _band_table(
    current: pd.DataFrame, realized: pd.DataFrame | None, baseline: pd.DataFrame | None
) -> pd.DataFrame:
    """Per band: this quarter's volume, expected and realized conversion, cycle and response times."""
    if BAND not in current.columns:
        return pd.DataFrame()
    present = set(current[BAND].dropna().astype("string"))
    if realized is not None and BAND in realized.columns:
        present |= set(realized[BAND].dropna().astype("string"))
    names = sorted(str(b) for b in present)  # "A" is the best band
    rows = []
    base_rate = (
        float(realized[canonical.LABEL].mean()) if realized is not None and len(realized) else float("nan")
    )
    for name in names:
        cur = current[current[BAND].astype("string") == name]
        row: dict[str, Any] = {
            "band": name,
            "n": len(cur),
            "share": len(cur) / len(current),
            "expected_conversion": float(cur[PROBABILITY].mean()) if len(cur) else float("nan"),
        }
        if baseline is not None and BAND in baseline.columns and len(baseline):
            row["baseline_share"] = float((baseline[BAND].astype("string") == name).mean())
        if canonical.FIRST_CONTACT_AT in cur.columns and canonical.CREATED_AT in cur.columns:
            hours = (cur[canonical.FIRST_CONTACT_AT] - cur[canonical.CREATED_AT]).dt.total_seconds() / 3600.0
            row["median_response_hours"] = float(hours.median()) if hours.notna().any() else float("nan")
        if realized is not None and BAND in realized.columns:
            part = realized[realized[BAND].astype("string") == name]
            y = part[canonical.LABEL].to_numpy()
            row.update(
                {
                    "n_matured": len(part),
                    "conversions": int(y.sum()),
                    "realized_conversion": float(y.mean()) if len(part) else float("nan"),
                    "mean_probability_matured": float(part[PROBABILITY].mean())
                    if len(part)
                    else float("nan"),
                    "lift": float(y.mean()) / base_rate if len(part) and base_rate > 0 else float("nan"),
                }
            )
            if canonical.CLOSED_AT in part.columns and canonical.CREATED_AT in part.columns:
                won = part[part[canonical.LABEL] == 1]
                days = (won[canonical.CLOSED_AT] - won[canonical.CREATED_AT]).dt.total_seconds() / 86400.0
                row["median_sales_cycle_days"] = float(days.median()) if days.notna().any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _monitored_columns(current: pd.DataFrame, baseline: pd.DataFrame, segments: list[str]) -> list[str]:
    """Columns present in both windows that are inputs (not ids, outcomes, outputs or report helpers)."""
    excluded = DEFAULT_EXCLUDE | _REPORT_COLUMNS
    ordered = [c for c in segments if c in current.columns and c in baseline.columns]
    for column in current.columns:
        if column in baseline.columns and column not in excluded and column not in ordered:
            if pd.api.types.is_datetime64_any_dtype(current[column]):
                continue
            if (
                current[column].dtype == object
                and current[column].map(lambda v: isinstance(v, list | dict)).any()
            ):
                continue  # reasons and other nested values are not distributions
            ordered.append(column)
    return ordered


def _drift(current: pd.DataFrame, baseline: pd.DataFrame, segments: list[str], psi: float) -> DriftResult:
    features = _monitored_columns(current, baseline, segments)
    thresholds = DriftThresholds(psi_act=psi)
    score_column = PROBABILITY if PROBABILITY in baseline.columns else None
    monitor = DriftMonitor(features, score_column=score_column, thresholds=thresholds)
    return monitor.fit(baseline).calculate(current)


def _drift_summary(result: DriftResult, baseline_name: str) -> dict[str, Any]:
    summary = result.to_dict()
    summary["baseline"] = baseline_name
    return summary


# ----------------------------------------------------------------------------------------------------
# recommendations
# ----------------------------------------------------------------------------------------------------
def recommend(
    realized: dict[str, Any] | None,
    estimated: dict[str, Any] | None,
    cohorts: pd.DataFrame,
    drift: dict[str, Any],
    segments: dict[str, pd.DataFrame],
    params: ReportParams,
    reference_auc: float | None = None,
    n_outcomes: int | None = None,
) -> list[Recommendation]:
    """Turn the figures into actions; every recommendation names its rule and threshold.

    ``n_outcomes`` is how many leads had a won or lost outcome by the report's as_of moment, matured or not.
    """
    recs: list[Recommendation] = []

    def check(
        breached: bool, action: str, message: str, rule: str, metric: str, value: Any, limit: float
    ) -> None:
        if breached and _finite(value):
            recs.append(Recommendation(action, message, rule, metric=metric, value=value, threshold=limit))

    if realized is not None:
        m = realized["metrics"]
        cohort = realized["cohort"]
        auc = m["auc"]
        check(
            auc < params.min_auc,
            "retrain",
            f"Retrain: realized AUC {auc:.2f} < {params.min_auc:.2f} floor ({cohort} cohort)",
            "realized_auc < report.min_auc",
            "auc",
            auc,
            params.min_auc,
        )
        if reference_auc is not None and _finite(reference_auc) and _finite(auc):
            drop = reference_auc - auc
            check(
                drop > params.max_auc_drop,
                "retrain",
                f"Retrain: realized AUC {auc:.2f} is {drop:.2f} below the reference "
                f"{reference_auc:.2f} (allowed drop {params.max_auc_drop:.2f})",
                "reference_auc - realized_auc > report.max_auc_drop",
                "auc_drop",
                drop,
                params.max_auc_drop,
            )
        lift = m.get("top_decile_lift")
        if _finite(lift):
            check(
                lift < params.min_top_decile_lift,
                "retrain",
                f"Retrain: top-decile lift {lift:.2f}x < {params.min_top_decile_lift:.2f}x",
                "top_decile_lift < report.min_top_decile_lift",
                "top_decile_lift",
                lift,
                params.min_top_decile_lift,
            )
        citl = m.get("calibration_in_the_large")
        limit = params.max_calibration_in_the_large
        if _finite(citl):
            check(
                abs(citl) > limit,
                "recalibrate",
                f"Recalibrate: calibration-in-the-large {citl:+.3f} beyond +-{limit:.2f} "
                f"(scores {'too high' if citl > 0 else 'too low'} on average)",
                "|calibration_in_the_large| > report.max_calibration_in_the_large",
                "calibration_in_the_large",
                citl,
                limit,
            )
        slope = m.get("calibration_slope")
        low, high = params.calibration_slope_range
        if _finite(slope):
            check(
                not low <= slope <= high,
                "recalibrate",
                f"Recalibrate: calibration slope {slope:.2f} outside [{low:.2f}, {high:.2f}]",
                "calibration_slope outside report.calibration_slope_range",
                "calibration_slope",
                slope,
                low if slope < low else high,
            )
    if estimated is not None:
        est_auc = estimated["metrics"].get("expected_auc")
        if _finite(est_auc):
            check(
                est_auc < params.min_auc,
                "watch",
                f"Watch: estimated AUC {est_auc:.2f} < {params.min_auc:.2f} floor for this quarter's "
                "leads (CBPE, outcomes pending)",
                "estimated_auc < report.min_auc",
                "estimated_auc",
                est_auc,
                params.min_auc,
            )
    if "realized_within_expected" in cohorts.columns:
        for row in cohorts.itertuples(index=False):
            if row.realized_within_expected is False and _finite(row.realized_auc):
                if row.realized_auc < row.expected_auc_low:
                    recs.append(
                        Recommendation(
                            "investigate",
                            f"Investigate: {row.quarter} realized AUC {row.realized_auc:.2f} below the range "
                            f"{row.expected_auc_low:.2f}-{row.expected_auc_high:.2f} expected from its "
                            "calibrated scores (concept drift?)",
                            "realized_auc < CBPE expected range (95%)",
                            subject=str(row.quarter),
                            metric="realized_auc",
                            value=row.realized_auc,
                            threshold=row.expected_auc_low,
                        )
                    )
    for name in ("vs_reference", "vs_previous_quarter"):
        block = drift.get(name)
        if not block:
            continue
        score = block.get("score")
        if score and _finite(score.get("psi")) and score["psi"] > params.psi_watch:
            recs.append(
                Recommendation(
                    "review_bands",
                    f"Review bands: score PSI {score['psi']:.2f} > {params.psi_watch:.2f} against the "
                    f"{block['baseline']} (band sizes and MQL volume have moved)",
                    "score_psi > report.psi_watch",
                    subject="score",
                    metric="psi",
                    value=score["psi"],
                    threshold=params.psi_watch,
                )
            )
        for row in block.get("features", []):
            if (
                row["feature"] in params.segment_columns
                and _finite(row["psi"])
                and row["psi"] > params.psi_watch
            ):
                recs.append(
                    Recommendation(
                        "watch",
                        f"Watch segment {row['feature']}={row['top_bin']}: PSI {row['psi']:.2f} > "
                        f"{params.psi_watch:.2f} (share {row['top_bin_reference_share']:.0%} -> "
                        f"{row['top_bin_current_share']:.0%} against the {block['baseline']})",
                        "segment column PSI > report.psi_watch",
                        subject=f"{row['feature']}={row['top_bin']}",
                        metric="psi",
                        value=row["psi"],
                        threshold=params.psi_watch,
                    )
                )
        if block.get("dataset_drift"):
            recs.append(
                Recommendation(
                    "retrain",
                    f"Retrain: {block['n_drifted']} of {block['n_features']} monitored inputs drifted "
                    f"against the {block['baseline']} (at least half)",
                    "share of drifted inputs >= 0.5",
                    subject="inputs",
                    metric="share_drifted",
                    value=block["share_drifted"],
                    threshold=0.5,
                )
            )
        break  # the reference is the primary baseline; the previous quarter only when there is no reference
    # Segment AUC is only news when the model as a whole is above the floor (otherwise "retrain" says it all).
    overall_ok = (
        realized is not None
        and _finite(realized["metrics"]["auc"])
        and (realized["metrics"]["auc"] >= params.min_auc)
    )
    for table in segments.values() if overall_ok else []:
        if "auc" not in table.columns:
            continue
        for row in table.itertuples(index=False):
            if bool(getattr(row, "reportable", False)) and _finite(row.auc) and row.auc < params.min_auc:
                recs.append(
                    Recommendation(
                        "watch",
                        f"Watch segment {row.column}={row.segment}: realized AUC {row.auc:.2f} < "
                        f"{params.min_auc:.2f} floor on {int(row.n_matured)} matured leads",
                        "segment realized_auc < report.min_auc (n >= report.min_segment_count)",
                        subject=f"{row.column}={row.segment}",
                        metric="auc",
                        value=row.auc,
                        threshold=params.min_auc,
                    )
                )
    if not recs and realized is None:
        # Without realized accuracy "no action" would vouch for what nobody could check.
        if not n_outcomes:
            message = "No realized outcomes: no lead has a won or lost outcome yet, so accuracy is not judged"
        else:
            message = (
                f"No realized accuracy yet: no cohort has {params.min_segment_count} matured leads with both "
                "outcomes, so accuracy is not judged"
            )
        recs.append(
            Recommendation(
                "watch",
                f"{message} (estimates and drift are within every rule)",
                "no realized outcomes (report.min_segment_count matured won/lost leads)",
                metric="outcomes",
                value=n_outcomes,
            )
        )
    if not recs:
        recs.append(
            Recommendation(
                "none",
                "No action: accuracy, calibration and drift are within every rule",
                "all rules passed",
            )
        )
    return recs


# ----------------------------------------------------------------------------------------------------
# the report
# ----------------------------------------------------------------------------------------------------
def build_quarterly_report(
    scored: pd.DataFrame,
    quarter: str,
    params: ReportParams,
    reference: pd.DataFrame | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
    seed: int = 0,
    model: dict[str, Any] | None = None,
    source: str = "",
) -> QuarterlyReport:
    """Build the quarterly model review from a frame of scored leads.

    Args:
        scored: one row per scored lead: lead_id, probability, scored_at (else created_at), and when known
            label (0/1, NaN if unknown) or outcome, band, is_mql, is_sql, created_at, closed_at,
            first_contact_at and the segment columns of ``params.segment_columns``.
        quarter: the report quarter, e.g. "2025Q2".
        params: report section of params.yaml.
        reference: optional baseline (data/reference/reference.parquet: test-period inputs, probability, band,
            label) for drift and the "AUC drop" rule; without it the previous quarter is the drift baseline.
        as_of: the moment whose knowledge the report uses; default the latest timestamp in the data
            (scoring, closing or first-contact time), i.e. the export. Leads scored after it are ignored;
            labels of leads created less than ``params.maturity_days`` before it, or closed after it, are not
            used. Pass the
            quarter's end to see the quarter as it looked on its last day.
        seed: bootstrap and simulation seed.
        model: model facts to print (version, trained_at, ...).
        source: how the scores were produced (prediction log, batch export, backtest), printed on top.

    Returns:
        The QuarterlyReport; ``leadscore.reporting.render`` turns it into HTML and JSON.

    Raises:
        ReportInputError: missing columns, bad values, or no lead scored in the quarter.
    """
    frame = prepare_scored(scored)
    period = parse_quarter(quarter)
    start, end = period.start_time, period.end_time
    # Default knowledge time: the latest moment the data knows of (the export), i.e. every outcome recorded.
    latest = frame[SCORED_AT].max()
    for column in (canonical.CLOSED_AT, canonical.FIRST_CONTACT_AT):
        if column in frame.columns and frame[column].notna().any():
            latest = max(latest, frame[column].max())
    report_as_of = pd.Timestamp(as_of) if as_of is not None else latest
    frame = frame[frame[SCORED_AT] <= report_as_of]
    cutoff = report_as_of - pd.Timedelta(days=params.maturity_days)
    # Maturity counts from creation, as the pull stage's label policy (source.label.maturity_days) does.
    born = frame[canonical.CREATED_AT] if canonical.CREATED_AT in frame.columns else frame[SCORED_AT]
    # An outcome is known only once the lead has closed: one closed after the report's as_of moment was still
    # open then, so a backtest as of the quarter's end must not see it (a label without a close time, such as
    # the label policy's old-open-as-lost, stands).
    if canonical.CLOSED_AT in frame.columns:
        frame.loc[frame[canonical.CLOSED_AT] > report_as_of, canonical.LABEL] = np.nan
    n_outcomes = int(frame[canonical.LABEL].notna().sum())
    frame[_MATURED] = (born.fillna(frame[SCORED_AT]) <= cutoff) & frame[canonical.LABEL].notna()
    # Labels of immature leads are hidden: judging a cohort on its early outcomes is biased.
    frame.loc[~frame[_MATURED], canonical.LABEL] = np.nan
    current = frame[frame[_QUARTER] == period]
    if current.empty:
        quarters = frame[_QUARTER]
        span = f"{quarters.min()}-{quarters.max()}" if len(quarters) else "nothing"
        raise ReportInputError(f"no lead scored in {period} (the scored leads cover {span})")
    logger.info("report %s: %d leads scored, as of %s", period, len(current), report_as_of)

    # -- cohorts: estimate beside realized -------------------------------------------------------------------
    first = period - (params.quarters_shown - 1)
    rows = []
    for q in pd.period_range(first, period, freq="Q"):
        cohort = frame[frame[_QUARTER] == q]
        if len(cohort):
            rows.append(_cohort_row(cohort, q, params, seed))
    cohorts = pd.DataFrame(rows)

    # -- realized accuracy on the latest matured cohort -----------------------------------------------------
    realized_info: dict[str, Any] | None = None
    realized_frame: pd.DataFrame | None = None
    deciles = None
    curves = None
    if "realized_auc" in cohorts.columns:
        eligible = cohorts[cohorts["realized_auc"].notna()]
        # Prefer a cohort that has (almost) fully matured, so the headline compares a whole quarter with the
        # estimate published for it; a young cohort's few matured leads are only its first weeks.
        mostly = eligible[eligible["matured_share"] >= REALIZED_MIN_MATURED_SHARE]
        eligible = mostly if len(mostly) else eligible
        if len(eligible):
            cohort_name = str(eligible["quarter"].iloc[-1])
            realized_frame = frame[(frame[_QUARTER] == pd.Period(cohort_name, freq="Q")) & frame[_MATURED]]
            y = realized_frame[canonical.LABEL].to_numpy()
            p = realized_frame[PROBABILITY].to_numpy()
            metrics = evaluate_scores(y, p, n_bins=10)
            intervals = bootstrap_metrics(
                y,
                p,
                ["auc", "pr_auc", "brier", "base_rate", "calibration_in_the_large"],
                n_boot=params.bootstrap_samples,
                seed=seed,
            )
            realized_info = {
                "cohort": cohort_name,
                "n": len(realized_frame),
                "metrics": metrics,
                "intervals": {k: v.to_dict() for k, v in intervals.items()},
            }
            # ECE is biased upwards on finite samples: quote what a calibrated model would show on these n.
            metrics["ece_noise_floor"] = ece_noise_floor(
                p, 10, "quantile", n_simulations=max(params.bootstrap_samples, 50), seed=seed
            )
            for flag, key in ((IS_MQL, "confusion_mql"), (IS_SQL, "confusion_sql")):
                if flag in realized_frame.columns:
                    realized_info[key] = confusion_from_predictions(y, realized_frame[flag].to_numpy())
            deciles = decile_table(y, p)
            curves = score_tables(y, p)

    # -- label-free estimate for this quarter ----------------------------------------------------------------
    estimator = CBPE(
        predicted_column=IS_MQL if IS_MQL in current.columns else None,
        n_simulations=max(params.bootstrap_samples, 50),
        seed=seed,
    )
    estimate = estimator.calculate(current, chunk_column=_MONTH)
    estimated_info = {
        "cohort": str(period),
        "n": len(current),
        "n_immature": int((~current[_MATURED]).sum()),
        "metrics": estimate.metrics,
        "band": estimate.band,
        "months": estimate.chunks.rename(columns={"chunk": "month"}) if estimate.chunks is not None else None,
    }

    # -- drift -----------------------------------------------------------------------------------------------
    previous = frame[frame[_QUARTER] == period - 1]
    drift: dict[str, Any] = {}
    segment_cols = [c for c in params.segment_columns if c in current.columns]
    if reference is not None and len(reference):
        drift["vs_reference"] = _drift_summary(
            _drift(current, reference, segment_cols, params.psi_watch), "reference"
        )
    if len(previous):
        drift["vs_previous_quarter"] = _drift_summary(
            _drift(current, previous, segment_cols, params.psi_watch), f"previous quarter ({period - 1})"
        )
    baseline = (
        reference if reference is not None and len(reference) else (previous if len(previous) else None)
    )

    # -- segments, bands, KPIs -------------------------------------------------------------------------------
    segments = {
        column: _segment_table(column, current, realized_frame, baseline, params, seed)
        for column in segment_cols
    }
    bands = _band_table(current, realized_frame, baseline)
    kpis: dict[str, Any] = {
        "leads_scored": len(current),
        "expected_conversions": float(current[PROBABILITY].sum()),
        "mean_probability": float(current[PROBABILITY].mean()),
    }
    if IS_MQL in current.columns:
        kpis["mql_count"] = int(current[IS_MQL].sum())
        kpis["qualification_rate"] = float(current[IS_MQL].mean())
    if IS_SQL in current.columns:
        kpis["sql_count"] = int(current[IS_SQL].sum())
        kpis["sql_rate"] = float(current[IS_SQL].mean())
    if realized_frame is not None:
        kpis["conversion_rate"] = float(realized_frame[canonical.LABEL].mean())
        kpis["conversion_rate_cohort"] = realized_info["cohort"] if realized_info else None
        if canonical.CLOSED_AT in realized_frame.columns and canonical.CREATED_AT in realized_frame.columns:
            won = realized_frame[realized_frame[canonical.LABEL] == 1]
            days = (won[canonical.CLOSED_AT] - won[canonical.CREATED_AT]).dt.total_seconds() / 86400.0
            kpis["median_sales_cycle_days"] = float(days.median()) if days.notna().any() else None
    if canonical.FIRST_CONTACT_AT in current.columns and canonical.CREATED_AT in current.columns:
        hours = (
            current[canonical.FIRST_CONTACT_AT] - current[canonical.CREATED_AT]
        ).dt.total_seconds() / 3600.0
        if hours.notna().any():
            kpis["median_response_hours"] = float(hours.median())
            kpis["contacted_within_24h"] = float((hours <= 24).mean())

    # -- recommendations -------------------------------------------------------------------------------------
    reference_auc = None
    if reference is not None and {canonical.LABEL, PROBABILITY} <= set(reference.columns):
        ref_y = pd.to_numeric(reference[canonical.LABEL], errors="coerce").to_numpy(dtype=np.float64)
        ref_p = pd.to_numeric(reference[PROBABILITY], errors="coerce").to_numpy(dtype=np.float64)
        keep = np.isfinite(ref_y) & np.isfinite(ref_p)
        if _both_classes(ref_y[keep]):
            reference_auc = evaluate_scores(ref_y[keep], ref_p[keep])["auc"]
    recommendations = recommend(
        realized_info,
        estimated_info,
        cohorts,
        drift,
        segments,
        params,
        reference_auc=reference_auc,
        n_outcomes=n_outcomes,
    )

    realized_row: dict[str, Any] = {}
    if realized_info is not None:
        realized_row = cohorts[cohorts["quarter"] == realized_info["cohort"]].iloc[0].to_dict()
    primary = drift.get("vs_reference") or drift.get("vs_previous_quarter") or {}
    primary_score = primary.get("score") or {}
    summary: dict[str, Any] = {
        "quarter": str(period),
        "as_of": report_as_of,
        "leads_scored": len(current),
        "leads_matured": int(current[_MATURED].sum()),
        "estimated_auc": estimate.metrics.get("expected_auc"),
        "estimated_conversion_rate": estimate.metrics.get("expected_base_rate"),
        "realized_cohort": realized_info["cohort"] if realized_info else None,
        "realized_auc": realized_info["metrics"]["auc"] if realized_info else None,
        # What the report said about the realized cohort while it was immature (CBPE depends on the scores
        # only, so recomputing it now reproduces the figure published then), beside what actually happened.
        "realized_cohort_estimated_auc": realized_row.get("estimated_auc"),
        "realized_cohort_estimated_conversion_rate": realized_row.get("estimated_base_rate"),
        "realized_conversion_rate": realized_row.get("realized_base_rate"),
        "realized_auc_ci": (
            [realized_info["intervals"]["auc"]["low"], realized_info["intervals"]["auc"]["high"]]
            if realized_info
            else None
        ),
        "reference_auc": reference_auc,
        "score_psi": primary_score.get("psi"),
        "actions": sorted({r.action for r in recommendations}),
    }
    settings = params.model_dump(mode="json")
    settings["seed"] = seed
    return QuarterlyReport(
        quarter=str(period),
        period_start=start,
        period_end=end.floor("s"),
        as_of=report_as_of,
        summary=summary,
        kpis=kpis,
        bands=bands,
        cohorts=cohorts,
        realized=realized_info,
        estimated=estimated_info,
        deciles=deciles,
        curves=curves,
        segments=segments,
        drift=drift,
        recommendations=recommendations,
        settings=settings,
        model=dict(model or {}),
        source=source,
    )
