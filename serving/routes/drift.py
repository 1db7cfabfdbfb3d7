"""Feature and score drift of recently scored leads against the serving bundle's reference window.

Computed on demand over the newest LEADSCORE_DRIFT_MAX_ROWS predictions in the window (about a second for 50k
rows): every prediction row keeps the raw feature values the model saw, as compact JSON without contact data.
At larger volumes the scale path is a nightly batch job writing a snapshot with the same ``DriftMonitor`` that
this endpoint would then serve as is.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query

from leadscore.monitoring.drift import DEFAULT_EXCLUDE, DriftMonitor
from leadscore.serving.deps import ModelDep, Services, ServicesDep, require_api_key
from leadscore.serving.errors import error_responses
from leadscore.serving.model_holder import LoadedModel
from leadscore.serving.routes.accuracy import End, Start, check_window
from leadscore.serving.schemas import DriftResponse, ModelVersion

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["monitoring"], dependencies=[Depends(require_api_key)])


@router.get(
    "/drift",
    response_model=DriftResponse,
    summary="Feature and score drift",
    description="Per-feature PSI (with Jensen-Shannon distance for categories, normed Wasserstein for "
    "numbers, and KS / chi-squared tests on small samples) and score drift of the leads scored in [start, "
    "end) against the serving bundle's validation-period reference; the thresholds used and the verdict are "
    "included.",
    responses=error_responses(401, 422, 503),
)
def get_drift(
    services: ServicesDep,
    current: ModelDep,
    start: Start = None,
    end: End = None,
    model_version: Annotated[
        ModelVersion | None, Query(description="Only scores by this model (default: the serving model).")
    ] = None,
) -> DriftResponse:
    """Compare the logged feature values with the reference.

    Only the serving model's own scores by default: rows logged by older versions carry other features (or
    other encodings of them), and mixing them in would report drift that is only the model change.
    """
    check_window(start, end)
    store, writer = services.require_store()
    writer.flush()
    limit = services.settings.drift_max_rows
    frame = store.recent_features(start, end, limit=limit + 1, model_version=model_version or current.version)
    truncated = len(frame) > limit
    frame = frame.iloc[:limit]
    monitor, monitored = _monitor_for(services, current)
    base: dict[str, Any] = {
        "start": start,
        "end": end,
        "model_version": current.version,
        "n_reference": len(current.bundle.reference),
        "n_current": len(frame),
        "truncated": truncated,
    }
    if len(frame) < services.settings.drift_min_rows:
        return DriftResponse(
            status="not_enough_predictions",
            message=f"need at least {services.settings.drift_min_rows} scored leads in the window; have "
            f"{len(frame)}",
            verdict="unknown",
            **base,
        )
    unavailable = [name for name in monitored if name not in frame.columns]
    for name in unavailable:
        frame[name] = np.nan
    result = monitor.calculate(frame).to_dict()
    return DriftResponse(
        status="ok",
        verdict="drift" if result["dataset_drift"] else "stable",
        dataset_drift=result["dataset_drift"],
        n_drifted=result["n_drifted"],
        share_drifted=result["share_drifted"],
        drifted_features=[
            f["feature"]
            for f in sorted((f for f in result["features"] if f["drifted"]), key=lambda f: -(f["psi"] or 0.0))
        ],
        features=result["features"],
        score=result["score"],
        thresholds=result["thresholds"],
        unavailable_features=unavailable,
        **base,
    )


def _monitor_for(services: Services, current: LoadedModel) -> tuple[DriftMonitor, list[str]]:
    """The drift monitor fitted on this bundle's reference (fitted once per model version, then cached)."""
    cached = services.drift_monitors.get(current.version)
    if cached is None:
        reference = current.bundle.reference
        monitored = [
            name
            for name in current.bundle.feature_names
            if name in reference.columns and name not in DEFAULT_EXCLUDE
        ]
        cached = (DriftMonitor(monitored).fit(reference), monitored)
        services.drift_monitors = {current.version: cached}  # keep only the serving version's monitor
    return cached
