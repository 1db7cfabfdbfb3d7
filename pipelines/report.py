"""DVC stage ``report``: the quarterly model review (HTML + JSON) of the trained bundle.

Inputs:
    data/model (the ScoringBundle), data/interim/leads.parquet + activities.parquet (leads with outcomes),
    data/processed/features.parquet (``split`` and each lead's scoring moment ``as_of``, plus the derived
    ``firmo_region`` / ``firmo_size_band`` segments), reports/registry.json (which registry version this is).
Outputs:
    reports/quarterly/quarterly_report_<quarter>.html (self-contained) and .json (the same numbers).

The leads of ``report.splits`` (default the test period, out-of-time for the model) play the production
traffic: every one is scored through ``bundle.score`` at its scoring moment, exactly as the batch job would
have scored it. The ``report.reference_splits`` leads (default the validation period the calibrator was
fitted on), scored the same way, are the drift baseline.

This is a documented backtest, not a replay of live traffic: the report is produced as RevOps would have seen
it on the last day of the report quarter (default: the latest quarter the test period covers completely).
Leads created less than ``report.maturity_days`` before that day count as immature and get the label-free
(CBPE) estimate; older cohorts are judged on the outcomes recorded in the export. So the main job's report
shows both views, and the previous quarter's estimate beside its realized figure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import SourceError
from leadscore.core.params import Params
from leadscore.pipelines._entry import load_periods, run_paths_stage
from leadscore.reporting.quarterly import QuarterlyReport, build_quarterly_report
from leadscore.reporting.render import write_report
from leadscore.reporting.segments import add_segments

logger = logging.getLogger(__name__)

# Derived segments RevOps asks for, taken from the feature frame (see leadscore.reporting.segments).
DERIVED_SEGMENTS = ("firmo_region", "firmo_size_band")
# Canonical inputs compared for drift besides the segments (free text such as contact_title is left out).
DRIFT_INPUTS = tuple(c for c in canonical.ROLE_COLUMNS if c != canonical.CONTACT_TITLE)
OUTPUTS = ("probability", "score", "band", "is_mql", "is_sql")


@dataclass(frozen=True)
class ReportPaths:
    """Where the stage reads and writes (relative to the repository root)."""

    interim: Path = Path("data/interim")
    processed: Path = Path("data/processed")
    model: Path = Path("data/model")
    registry: Path = Path("reports/registry.json")
    out: Path = Path("reports/quarterly")


def score_periods(paths: ReportPaths, bundle: Any, splits: Sequence[str]) -> pd.DataFrame:
    """Leads of ``splits`` scored by the bundle at their scoring moment, with segments and outcomes."""
    leads, activities, features = load_periods(
        paths.interim, paths.processed, splits, ("as_of", *DERIVED_SEGMENTS)
    )
    # The batch job scores each lead once, at its scoring moment; reasons are not needed for accuracy.
    scored = bundle.score(leads, activities, with_reasons=False).reset_index(drop=True)
    keep = [
        c
        for c in (
            canonical.LEAD_ID,
            canonical.CREATED_AT,
            canonical.CLOSED_AT,
            canonical.FIRST_CONTACT_AT,
            canonical.OUTCOME,
            canonical.LABEL,
            *DRIFT_INPUTS,
        )
        if c in leads.columns
    ]
    out = leads[keep].copy()
    out[canonical.LEAD_ID] = out[canonical.LEAD_ID].astype("str")
    for column in OUTPUTS:
        out[column] = scored[column].to_numpy()
    extra = features.drop_duplicates(canonical.LEAD_ID)
    out = out.merge(extra, on=canonical.LEAD_ID, how="left", validate="one_to_one")
    if "as_of" in out.columns:
        out = out.rename(columns={"as_of": "scored_at"})
    return add_segments(out, drop_sources=True)


def _moments(scored: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(
        scored["scored_at"] if "scored_at" in scored.columns else scored[canonical.CREATED_AT]
    )


def pick_quarter(scored: pd.DataFrame, min_count: int) -> str:
    """The latest quarter the scores cover completely with at least ``min_count`` leads.

    A quarter is complete when scoring went on until its last day; a trailing sliver of a quarter (the test
    period ends mid-quarter) would make a thin, misleading report. Falls back to the latest quarter with
    ``min_count`` leads, then to the latest quarter at all.
    """
    moments = _moments(scored)
    counts = moments.dt.to_period("Q").value_counts().sort_index()
    last_day = moments.max().normalize()
    enough = counts[counts >= min_count]
    complete = enough[[q.end_time.normalize() <= last_day for q in enough.index]]
    for candidates in (complete, enough, counts):
        if len(candidates):
            return str(candidates.index[-1])
    raise SourceError("no scored lead to report on")


def quarter_end_as_of(scored: pd.DataFrame, quarter: str) -> pd.Timestamp:
    """Knowledge time of the report: the quarter's last moment, or the last scoring moment if earlier."""
    end = pd.Period(quarter, freq="Q").end_time.floor("s")
    return min(end, _moments(scored).max())


def _model_info(bundle: Any, registry_path: Path) -> dict[str, Any]:
    meta = bundle.metadata
    info: dict[str, Any] = {
        "bundle": bundle.version,
        "trained": str(meta.get("trained_at", ""))[:19],
        "calibration": meta.get("calibration_method"),
    }
    if registry_path.exists():
        try:
            registry = json.loads(registry_path.read_text())
        except json.JSONDecodeError:
            registry = {}
        if registry.get("bundle_version") == bundle.version:
            info["registered"] = (
                f"{registry.get('name')} v{registry.get('version')} ({registry.get('alias')})"
            )
    return info


def run_report(params: Params, paths: ReportPaths = ReportPaths()) -> tuple[QuarterlyReport, dict[str, Path]]:
    """Score the report and reference periods, build the quarterly review and write it."""
    from leadscore.models.bundle import ScoringBundle  # lightgbm import: only when the stage really runs

    bundle = ScoringBundle.load(paths.model)
    report_params = params.report
    scored = score_periods(paths, bundle, report_params.splits)
    reference = None
    if report_params.reference_splits:
        reference = score_periods(paths, bundle, report_params.reference_splits)
    quarter = report_params.quarter or pick_quarter(scored, report_params.min_segment_count)
    report = build_quarterly_report(
        scored,
        quarter,
        report_params,
        reference=reference,
        as_of=quarter_end_as_of(scored, quarter),
        seed=params.base.seed,
        model=_model_info(bundle, paths.registry),
        source=backtest_source(scored, params),
    )
    written = write_report(report, paths.out)
    logger.info(
        "report %s: %d leads, actions %s -> %s",
        report.quarter,
        report.summary["leads_scored"],
        ", ".join(report.summary["actions"]),
        written["html"],
    )
    return report, written


def backtest_source(scored: pd.DataFrame, params: Params) -> str:
    """One sentence for the report saying how its scores were produced (a backtest, not live traffic)."""
    moments = _moments(scored)
    reference = ", ".join(params.report.reference_splits) or "previous quarter"
    splits = ", ".join(params.report.splits)
    return (
        f"backtest: the {splits} period (out-of-time for the model; {len(scored)} leads scored "
        f"{moments.min().date()} to {moments.max().date()}) scored by this bundle through bundle.score at "
        f"each lead's scoring moment (created_at + {params.base.as_of_offset_days} days), as the batch job "
        "would have; the report is as of the quarter's last day: cohorts younger than "
        f"{params.report.maturity_days} days then get CBPE estimates only, older ones are judged on the "
        f"outcomes recorded in the export; drift baseline: the {reference} period."
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m leadscore.pipelines.report``."""
    run_paths_stage(
        "leadscore.pipelines.report",
        __doc__,
        ReportPaths(),
        {
            "interim": "canonical leads + activities",
            "processed": "feature frame with split",
            "model": "scoring bundle directory",
            "registry": "register stage output",
            "out": "report directory",
        },
        run_report,
        argv,
    )


if __name__ == "__main__":
    main()
