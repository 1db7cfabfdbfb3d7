"""DVC stage ``featurize``: canonical leads + activities -> point-in-time feature frame + feature spec.

Inputs:
    data/interim/leads.parquet, data/interim/activities.parquet (optional; an empty log means no intent).
Outputs:
    data/processed/features.parquet: lead_id, created_at, as_of, label, true_p (simulator only), split
        (train / validation / test by creation time) and the raw feature columns.
    data/processed/spec.json: the FeatureSpec (roles, extras, activity types, windows).
    data/processed/featurize_summary.json: rows and base rate per period, feature counts.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.dataset import SPLIT_COLUMN, featurize
from leadscore import schema
from leadscore.errors import DataValidationError
from leadscore.params import Params

logger = logging.getLogger(__name__)

IN_DIR = Path("data/interim")
OUT_DIR = Path("data/processed")


def _read(path: Path, required: bool) -> pd.DataFrame | None:
    if not path.exists():
        if required:
            raise DataValidationError(f"{path} not found: run the pull stage first")
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types; the user needs the file name
        raise DataValidationError(f"{path} is not a readable Parquet file ({type(exc).__name__})") from None


def run_featurize(params: Params, in_dir: Path = IN_DIR, out_dir: Path = OUT_DIR) -> dict[str, Any]:
    """Featurise the pull outputs and write the processed data set; returns the summary."""
    leads = _read(in_dir / "leads.parquet", required=True)
    assert leads is not None
    activities = _read(in_dir / "activities.parquet", required=False)
    dataset = featurize(leads, activities, params.features, params.split, params.base.as_of_offset_days)
    frame, spec = dataset.frame, dataset.spec
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out_dir / "features.parquet", index=False)
    (out_dir / "spec.json").write_text(spec.to_json() + "\n")
    periods = {
        name: {"rows": int(len(part)), "base_rate": round(float(part[schema.LABEL].mean()), 4)}
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
    }
    (out_dir / "featurize_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("featurize: %d leads, %d features -> %s", len(frame), len(spec.feature_names), out_dir)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m pipelines.featurize``."""
    from pipelines._entry import run_stage

    parser = argparse.ArgumentParser(
        prog="python -m pipelines.featurize", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--inputs", type=Path, default=IN_DIR, help="directory of the pull outputs")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    parser.add_argument("--params", default="params.yaml", help="params file")
    args = parser.parse_args(argv)

    def body(params: Params) -> None:
        run_featurize(params, args.inputs, args.out)

    run_stage("featurize", body, params_path=args.params)


if __name__ == "__main__":
    main()
