"""DVC stage ``train``: feature frame -> calibrated, explained LightGBM ScoringBundle.

Inputs:
    data/processed/features.parquet and spec.json (the featurize stage).
Outputs:
    data/model/: the ScoringBundle directory (bundle.joblib, metadata.json, model.txt, spec.json,
        reference.parquet) and data/model/train_metrics.json.

Provenance is gathered here, at the edge: the git commit (``git rev-parse HEAD``), a hash of the params that
shape the model and a hash of the input data, and recorded in the bundle metadata.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leadscore.core.errors import DataValidationError
from leadscore.core.params import Params
from leadscore.features.spec import FeatureSpec
from leadscore.models.fit import fit_with_params
from leadscore.pipelines._entry import excluded_columns, read_stage_parquet, run_stage, stage_arguments

logger = logging.getLogger(__name__)

IN_DIR = Path("data/processed")
OUT_DIR = Path("data/model")
MODEL_PARAM_SECTIONS = ("base", "features", "split", "train", "calibrate", "bands")


def git_sha(cwd: Path | None = None) -> str:
    """Current commit, with "+dirty" when tracked files are modified; "unknown" outside a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def params_hash(params: Params) -> str:
    """Hash of the params sections that shape the model (stable JSON, sorted keys)."""
    dumped = params.model_dump(mode="json", by_alias=True)
    payload = json.dumps({k: dumped[k] for k in MODEL_PARAM_SECTIONS}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def data_hash(*paths: Path) -> str:
    """Hash of the input files' bytes."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def run_train(params: Params, in_dir: Path = IN_DIR, out_dir: Path = OUT_DIR) -> dict[str, Any]:
    """Train, calibrate and save the bundle; returns the training metrics (also written as JSON)."""
    features_path, spec_path = in_dir / "features.parquet", in_dir / "spec.json"
    for path in (features_path, spec_path):
        if not path.exists():
            raise DataValidationError(f"{path} not found: run the featurize stage first")
    frame = read_stage_parquet(features_path, error=DataValidationError)
    spec = FeatureSpec.from_json(spec_path.read_text())
    excluded = excluded_columns(in_dir / "featurize_summary.json")
    provenance = {
        "git_sha": git_sha(),
        "params_hash": params_hash(params),
        "data_hash": data_hash(features_path, spec_path),
        "seed": params.base.seed,
        "top_reasons": params.evaluate.top_reasons,
        # The export mapping travels with the model, so batch scoring of a raw export needs no params file.
        "mapping": params.source.mapping.model_dump(mode="json"),
        "label_policy": params.source.label.model_dump(mode="json"),
        # Leakage suspects the validate stage excluded: the model never saw them (names only; the evidence is
        # in reports/validation/summary.json, logged to MLflow by register).
        "excluded_columns": [item["name"] for item in excluded],
    }
    result = fit_with_params(frame, spec, params, provenance)
    result.bundle.save(out_dir)
    metrics = {
        **result.metrics,
        **{k: provenance[k] for k in ("git_sha", "params_hash", "data_hash", "excluded_columns")},
    }
    (out_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    validation = metrics["validation"]
    logger.info(
        "train: bundle %s, validation AUC %.4f, Brier %.4f, calibration %s%s",
        result.bundle.version,
        validation["auc"],
        validation["brier"],
        metrics["calibration"]["method"],
        " (COLD START)" if metrics["cold_start"] else "",
    )
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m leadscore.pipelines.train``."""
    args = stage_arguments(
        "leadscore.pipelines.train",
        __doc__,
        [("inputs", IN_DIR, "directory of the featurize outputs"), ("out", OUT_DIR, "bundle directory")],
        argv,
    )

    def body(params: Params) -> None:
        run_train(params, args.inputs, args.out)

    run_stage("train", body, params_path=args.params)


if __name__ == "__main__":
    main()
