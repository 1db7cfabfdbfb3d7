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
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from leadscore import schema
from leadscore.errors import SourceError
from leadscore.params import Params
from leadscore.reporting.quarterly import QuarterlyReport, build_quarterly_report
from leadscore.reporting.render import write_report

logger = logging.getLogger(__name__)

SPLIT_COLUMN = "split"
# Derived segments RevOps asks for, taken from the feature frame (column there -> segment name in the report).
DERIVED_SEGMENTS = {"firmo_region": "region", "firmo_size_band": "size_band"}
# Canonical inputs compared for drift besides the segments (free text such as contact_title is left out).
DRIFT_INPUTS = tuple(c for c in schema.ROLE_COLUMNS if c != schema.CONTACT_TITLE)
OUTPUTS = ("probability", "score", "band", "is_mql", "is_sql")


@dataclass(frozen=True)
class ReportPaths:
    """Where the stage reads and writes (relative to the repository root)."""

    interim: Path = Path("data/interim")
    processed: Path = Path("data/processed")
    model: Path = Path("data/model")
    registry: Path = Path("reports/registry.json")
    out: Path = Path("reports/quarterly")


def _read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    if not path.exists():
        raise SourceError(f"{path} not found: run the stage that writes it first (dvc repro)")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow raises several types; the user needs the file name
        raise SourceError(f"{path} is not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def _size_labels() -> tuple[str, ...]:
    from features.firmographic import SIZE_LABELS

    return tuple(SIZE_LABELS)


def score_periods(paths: ReportPaths, bundle: Any, splits: Sequence[str]) -> pd.DataFrame:
    """Leads of ``splits`` scored by the bundle at their scoring moment, with segments and outcomes."""
    frame_path = paths.processed / "features.parquet"
    available = pq.read_schema(frame_path).names if frame_path.exists() else []
    wanted = [schema.LEAD_ID, SPLIT_COLUMN, *[c for c in ("as_of", *DERIVED_SEGMENTS) if c in available]]
    features = _read_parquet(frame_path, columns=wanted)
    features = features[features[SPLIT_COLUMN].isin(list(splits))]
    features[schema.LEAD_ID] = features[schema.LEAD_ID].astype("str")
    ids = pd.Index(features[schema.LEAD_ID].unique())
    leads = _read_parquet(paths.interim / "leads.parquet")
    leads = leads.loc[leads[schema.LEAD_ID].astype("str").isin(ids)].reset_index(drop=True)
    if leads.empty:
        raise SourceError(f"no lead of the {list(splits)} split(s) is in {paths.interim / 'leads.parquet'}")
    activities = None
    activities_path = paths.interim / "activities.parquet"
    if activities_path.exists():
        activities = _read_parquet(activities_path)
        activities = activities.loc[activities[schema.ACTIVITY_LEAD_ID].astype("str").isin(ids)]
    # The batch job scores each lead once, at its scoring moment; reasons are not needed for accuracy.
    scored = bundle.score(leads, activities, with_reasons=False).reset_index(drop=True)
    keep = [
        c
        for c in (
            schema.LEAD_ID,
            schema.CREATED_AT,
            schema.CLOSED_AT,
            schema.FIRST_CONTACT_AT,
            schema.OUTCOME,
            schema.LABEL,
            *DRIFT_INPUTS,
        )
        if c in leads.columns
    ]
    out = leads[keep].copy()
    out[schema.LEAD_ID] = out[schema.LEAD_ID].astype("str")
    for column in OUTPUTS:
        out[column] = scored[column].to_numpy()
    extra = features.drop_duplicates(schema.LEAD_ID).drop(columns=SPLIT_COLUMN)
    out = out.merge(extra, on=schema.LEAD_ID, how="left", validate="one_to_one")
    if "as_of" in out.columns:
        out = out.rename(columns={"as_of": "scored_at"})
    if "firmo_size_band" in out.columns:
        labels = np.array(_size_labels(), dtype=object)
        codes = out["firmo_size_band"].to_numpy(dtype=np.float64)
        valid = np.isfinite(codes) & (codes >= 0) & (codes < len(labels))
        size = np.full(len(out), None, dtype=object)
        size[valid] = labels[codes[valid].astype(np.intp)]
        out["firmo_size_band"] = size
    return out.rename(columns=DERIVED_SEGMENTS)


def pick_quarter(scored: pd.DataFrame, min_count: int) -> str:
    """The latest quarter with at least ``min_count`` scored leads (else the latest quarter at all)."""
    moments = pd.to_datetime(
        scored["scored_at"] if "scored_at" in scored.columns else scored[schema.CREATED_AT]
    )
    counts = moments.dt.to_period("Q").value_counts().sort_index()
    full = counts[counts >= min_count]
    return str((full if len(full) else counts).index[-1])


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
    from models.bundle import ScoringBundle  # lightgbm import: only when the stage really runs

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
        seed=params.base.seed,
        model=_model_info(bundle, paths.registry),
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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m pipelines.report``."""
    from pipelines._entry import run_stage

    defaults = ReportPaths()
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.splitlines()[0])
    parser.add_argument("--interim", type=Path, default=defaults.interim, help="canonical leads + activities")
    parser.add_argument("--processed", type=Path, default=defaults.processed, help="feature frame with split")
    parser.add_argument("--model", type=Path, default=defaults.model, help="scoring bundle directory")
    parser.add_argument("--registry", type=Path, default=defaults.registry, help="register stage output")
    parser.add_argument("--out", type=Path, default=defaults.out, help="report directory")
    parser.add_argument("--params", default="params.yaml", help="params file")
    args = parser.parse_args(argv)
    paths = ReportPaths(args.interim, args.processed, args.model, args.registry, args.out)

    def body(params: Params) -> None:
        run_report(params, paths)

    run_stage("report", body, params_path=args.params)


if __name__ == "__main__":
    main()
