"""DVC stage ``register``: log the run to MLflow, register the bundle, decide champion vs challenger.

Inputs: data/model (bundle), reports/metrics.json, reports/plots, reports/validation/summary.json,
data/interim (canonical leads and activities) and data/processed (its ``split`` column names the test leads
on which the new model and the current champion are compared, as in the evaluate stage).

Output: reports/registry.json: name, version, alias given, champion version, the comparison figures and
timings.

The store defaults to ``sqlite:///mlruns/mlflow.db`` with artifacts in ``mlruns/artifacts``; relative
locations are taken from the repository root (where DVC runs stages) and made absolute so that the
experiment's artifact location does not depend on the directory a later reader runs from.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadscore.core.errors import SourceError
from leadscore.core.params import Params, RegistryParams
from leadscore.pipelines.evaluate import EvaluatePaths, load_test_period
from leadscore.pipelines.train import git_sha

logger = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class RegisterPaths:
    """Where the stage reads and writes (relative to the repository root)."""

    bundle: Path = Path("data/model")
    metrics: Path = Path("reports/metrics.json")
    plots: Path = Path("reports/plots")
    validation_summary: Path = Path("reports/validation/summary.json")
    interim: Path = Path("data/interim")
    processed: Path = Path("data/processed")
    out: Path = Path("reports/registry.json")


def resolve_tracking(tracking: RegistryParams, root: Path) -> RegistryParams:
    """Make a relative SQLite store and artifact location absolute under ``root``; create the directories."""
    uri, artifacts = tracking.tracking_uri, tracking.artifact_location
    if uri.startswith(SQLITE_PREFIX):
        db = Path(uri.removeprefix(SQLITE_PREFIX))
        db = db if db.is_absolute() else (root / db).resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        uri = f"{SQLITE_PREFIX}{db}"
    if "://" not in artifacts:
        location = Path(artifacts)
        location = location if location.is_absolute() else (root / location).resolve()
        location.mkdir(parents=True, exist_ok=True)
        artifacts = str(location)
    return tracking.model_copy(update={"tracking_uri": uri, "artifact_location": artifacts})


def _read_json(path: Path, required: bool) -> Any:
    if not path.exists():
        if required:
            raise SourceError(f"{path} not found: run the stage that writes it first (dvc repro)")
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}") from None


def register(
    params: Params, paths: RegisterPaths = RegisterPaths(), root: Path | None = None
) -> dict[str, Any]:
    """Log, register and decide; returns what is written to reports/registry.json."""
    started = time.perf_counter()
    from leadscore.models.registry import (
        log_and_register,  # mlflow import: seconds, so only when the stage really runs
    )

    imported = time.perf_counter()
    tracking = resolve_tracking(params.registry, root or Path.cwd())
    if not paths.bundle.is_dir():
        raise SourceError(f"{paths.bundle} not found: run the train stage first")
    metrics = _read_json(paths.metrics, required=True)
    validation = _read_json(paths.validation_summary, required=False)
    # The evaluate stage's test period, read the same way: the figures compared are on its leads.
    test_leads, test_activities, _ = load_test_period(
        EvaluatePaths(interim=paths.interim, processed=paths.processed)
    )
    result = log_and_register(
        paths.bundle,
        metrics,
        params.model_dump(mode="json", by_alias=True),
        paths.plots,
        # Training provenance (git sha, params and data hashes) comes from the bundle; this adds when and from
        # which commit the model was registered.
        {"register_git_sha": git_sha()},
        tracking,
        test_leads=test_leads,
        test_activities=test_activities,
        validation_summary=validation,
    )
    report = result.to_dict()
    report["tracking_uri"] = tracking.tracking_uri
    report["timings_seconds"] = {
        "import_mlflow": round(imported - started, 3),
        **result.timings_seconds,
        "stage_total": round(time.perf_counter() - started, 3),
    }
    paths.out.parent.mkdir(parents=True, exist_ok=True)
    paths.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    comparison = result.comparison
    logger.info(
        "register: %s v%s -> %s (champion v%s; %s new %.4f vs champion %s on %d test leads) in %.1fs",
        result.name,
        result.version,
        result.alias,
        result.champion_version,
        comparison.metric,
        comparison.new_value,
        "n/a" if comparison.champion_value is None else f"{comparison.champion_value:.4f}",
        comparison.n_leads,
        report["timings_seconds"]["stage_total"],
    )
    return report


def main() -> None:
    """Entry point for ``python -m leadscore.pipelines.register``."""
    from leadscore.core.logs import quiet_environment
    from leadscore.pipelines._entry import run_stage

    quiet_environment()

    def body(params: Params) -> None:
        register(params)

    run_stage("register", body)


if __name__ == "__main__":
    main()
