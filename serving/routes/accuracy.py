"""Realized accuracy of the logged scores whose outcomes arrived, and a label-free estimate for the rest.

Computed on demand from the prediction log with the project's metric code (leadscore.monitoring), so the API,
the evaluate stage and the quarterly report agree on what "AUC" and "lift" mean. Small or one-sided samples
get an explicit "not enough outcomes" status instead of NaN.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query

from leadscore.monitoring._common import to_jsonable
from leadscore.monitoring.cbpe import CBPE, simulate_metric_band
from leadscore.monitoring.metrics import decile_table, evaluate_scores
from leadscore.serving.deps import ServicesDep, require_api_key
from leadscore.serving.errors import ApiError, error_responses
from leadscore.serving.schemas import (
    AccuracyResponse,
    EstimatedAccuracy,
    ModelVersion,
    RealizedAccuracy,
    Timestamp,
)
from leadscore.serving.settings import ServingSettings

router = APIRouter(prefix="/v1", tags=["monitoring"], dependencies=[Depends(require_api_key)])

# The scoring API's bounded Timestamp (plausible years, then naive UTC): a placeholder such as 9999-12-31 is a
# 422 naming the parameter, not an overflow in the conversion to UTC.
Start = Annotated[Timestamp | None, Query(description="Scored at or after (ISO 8601; naive = UTC).")]
End = Annotated[Timestamp | None, Query(description="Scored before (ISO 8601; naive = UTC).")]


def check_window(start: datetime | None, end: datetime | None) -> None:
    """Refuse an empty or inverted window with a 422 naming ``end`` (both are naive UTC already)."""
    if start is not None and end is not None and end <= start:
        raise ApiError(422, "validation_error", "end must be after start", "end")


@router.get(
    "/accuracy",
    response_model=AccuracyResponse,
    summary="Realized and estimated accuracy",
    description="Over the leads scored in [start, end) (optionally by one model version): realized AUC, "
    "Brier, calibration by band and lift by decile for leads whose outcome arrived (each lead's latest "
    "score made no later than its close), and a CBPE estimate (expected conversions, AUC and Brier, from "
    "the calibrated probabilities) for leads still open.",
    responses=error_responses(401, 422, 503),
)
def get_accuracy(
    services: ServicesDep,
    start: Start = None,
    end: End = None,
    model_version: Annotated[ModelVersion | None, Query(description="Only scores by this model.")] = None,
) -> AccuracyResponse:
    """Read the log and compute both views."""
    check_window(start, end)
    store, writer = services.require_store()
    writer.flush()  # read your own writes: scores queued a moment ago count
    labelled = store.labelled_scores(start, end, model_version)
    still_open = store.open_scores(start, end, model_version)
    return AccuracyResponse(
        start=start,
        end=end,
        model_version=model_version,
        scored_leads=len(labelled) + len(still_open),
        realized=realized_accuracy(labelled, services.settings),
        estimated=estimated_accuracy(still_open, services.settings),
    )


def realized_accuracy(labelled: pd.DataFrame, settings: ServingSettings) -> RealizedAccuracy:
    """Metrics on (label, probability) pairs, or a not-enough-outcomes state."""
    y = labelled["label"].to_numpy(dtype=np.float64)
    p = labelled["probability"].to_numpy(dtype=np.float64)
    n, won = int(y.size), int(y.sum())
    if n < settings.accuracy_min_outcomes or won in (0, n):
        return RealizedAccuracy(
            status="not_enough_outcomes",
            message=f"need at least {settings.accuracy_min_outcomes} leads with outcomes, both won and lost; "
            f"have {n} ({won} won)",
            n=n,
            n_won=won,
            n_lost=n - won,
        )
    metrics = to_jsonable(evaluate_scores(y, p))
    deciles = to_jsonable(decile_table(y, p))
    by_band = (
        labelled.groupby("band", sort=True)
        .agg(
            n=("label", "size"),
            won=("label", "sum"),
            mean_predicted=("probability", "mean"),
            observed_rate=("label", "mean"),
        )
        .reset_index()
    )
    expected = simulate_metric_band(p, n_simulations=settings.cbpe_simulations)
    return RealizedAccuracy(
        status="ok",
        n=n,
        n_won=won,
        n_lost=n - won,
        auc=metrics["auc"],
        brier=metrics["brier"],
        base_rate=metrics["base_rate"],
        mean_predicted=metrics["mean_predicted"],
        ece=metrics["ece"],
        top_decile_lift=metrics["top_decile_lift"],
        calibration_by_band=to_jsonable(by_band),
        lift_by_decile=deciles,
        expected_if_calibrated=to_jsonable(
            {k: v for k, v in expected.items() if k in ("auc", "brier", "base_rate")}
        ),
    )


def estimated_accuracy(still_open: pd.DataFrame, settings: ServingSettings) -> EstimatedAccuracy:
    """CBPE over the open leads' latest scores."""
    n = len(still_open)
    if n < 2:
        return EstimatedAccuracy(
            status="not_enough_open_leads", message=f"need at least 2 open scored leads; have {n}", n_open=n
        )
    result = CBPE(n_simulations=settings.cbpe_simulations).calculate(still_open[["probability"]])
    metrics: dict[str, Any] = to_jsonable(result.metrics)
    return EstimatedAccuracy(
        status="ok",
        n_open=n,
        expected_conversions=metrics["expected_positives"],
        expected_base_rate=metrics["expected_base_rate"],
        expected_auc=metrics["expected_auc"],
        expected_brier=metrics["expected_brier"],
        expected_ranges=to_jsonable(
            {k: v for k, v in result.band.items() if k in ("auc", "brier", "base_rate")}
        ),
    )
