"""DVC stage ``featurize``: canonical leads + activities -> point-in-time feature frame + feature spec.

Inputs:
    data/interim/leads.parquet, data/interim/activities.parquet (optional; an empty log means no intent).
Inputs also: reports/validation/summary.json (``excluded_columns``: leakage suspects to drop).
Outputs:
    data/processed/features.parquet: lead_id, created_at, as_of, label, true_p (simulator only), split
        (train / validation / test by creation time) and the raw feature columns.
    data/processed/spec.json: the FeatureSpec (roles, extras, activity types, windows).
    data/processed/featurize_summary.json: rows and base rate per period, feature counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadscore.core import canonical
from leadscore.core.errors import DataValidationError
from leadscore.core.params import Params
from leadscore.features.dataset import SPLIT_COLUMN, featurize
from leadscore.pipelines._entry import (
    VALIDATION_SUMMARY,
    excluded_columns,
    read_stage_parquet,
    run_stage,
    stage_arguments,
)

logger = logging.getLogger(__name__)

IN_DIR = Path("data/interim")
OUT_DIR = Path("data/processed")


def run_featurize(
    params: Params,
    in_dir: Path = IN_DIR,
    out_dir: Path = OUT_DIR,
    validation_summary: Path = VALIDATION_SUMMARY,
) -> dict[str, Any]:
    """Featurise the pull outputs and write the processed data set; returns the summary.

    Leakage suspects the validate stage excluded (``validate.leakage.action: exclude``) are dropped here, so
    the model never trains on them; the summary lists them with their evidence for train, MLflow and people.
    """
    leads = read_stage_parquet(in_dir / "leads.parquet", error=DataValidationError)
    activities_path = in_dir / "activities.parquet"
    activities = (
        read_stage_parquet(activities_path, error=DataValidationError) if activities_path.exists() else None
    )
    excluded = excluded_columns(validation_summary)
    dataset = featurize(
        leads,
        activities,
        params.features,
        params.split,
        params.base.as_of_offset_days,
        exclude=[item["name"] for item in excluded],
    )
    frame, spec = dataset.frame, dataset.spec
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out_dir / "features.parquet", index=False)
    (out_dir / "spec.json").write_text(spec.to_json() + "\n")
    periods = {
        name: {"rows": int(len(part)), "base_rate": round(float(part[canonical.LABEL].mean()), 4)}
        for name, part in frame.groupby(SPLIT_COLUMN, sort=False)
    }
    summary = {
        "rows": int(len(frame)),
        "periods": periods,
        "features": len(spec.feature_names),
        "categorical_features": len(spec.categorical_features),
        "activity_types": list(spec.activity_types),
        "roles": list(spec.roles),
        "extras": [*spec.extra_categorical, *spec.extra_numeric],
        "excluded_columns": excluded,
    }
    (out_dir / "featurize_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("featurize: %d leads, %d features -> %s", len(frame), len(spec.feature_names), out_dir)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m leadscore.pipelines.featurize``."""
    args = stage_arguments(
        "leadscore.pipelines.featurize",
        __doc__,
        [
            ("inputs", IN_DIR, "directory of the pull outputs"),
            ("out", OUT_DIR, "output directory"),
            ("validation", VALIDATION_SUMMARY, "validate stage summary (its excluded_columns are dropped)"),
        ],
        argv,
    )

    def body(params: Params) -> None:
        run_featurize(params, args.inputs, args.out, args.validation)

    run_stage("featurize", body, params_path=args.params)


if __name__ == "__main__":
    main()
