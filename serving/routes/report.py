"""The quarterly model review over HTTP: the same report as ``leadscore report``, from this service's log.

Built on demand from the prediction log joined with the posted outcomes (each lead's latest score made before
its close), with the serving bundle's band scheme for the MQL/SQL flags and its validation-period reference as
the drift baseline. Report settings are the defaults of ``leadscore.core.params.ReportParams`` (the service
does not read params.yaml). A 50k-lead quarter takes a few seconds, so the route runs in the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from leadscore.core.params import ReportParams
from leadscore.reporting.prediction_log import log_window, report_input
from leadscore.reporting.quarterly import ReportInputError, build_quarterly_report, parse_quarter
from leadscore.reporting.render import render_html, render_json
from leadscore.reporting.segments import add_segments
from leadscore.serving.deps import ModelDep, ServicesDep, require_api_key
from leadscore.serving.errors import ApiError, error_responses


class ReportRecommendation(BaseModel):
    """One recommended action and the rule that produced it."""

    action: str = Field(description="retrain | recalibrate | review_bands | watch | investigate | none")
    message: str
    rule: str = Field(
        description="The params key and comparison that fired, e.g. realized_auc < report.min_auc"
    )
    subject: str
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None


class QuarterlyReportDocument(BaseModel):
    """The report's JSON twin (``format=json``); tables are lists of row objects, missing numbers null."""

    quarter: str
    period_start: str
    period_end: str
    as_of: str
    model: dict[str, Any]
    source: str = Field(description="How the scores were produced.")
    summary: dict[str, Any]
    recommendations: list[ReportRecommendation]
    kpis: dict[str, Any]
    bands: list[dict[str, Any]]
    cohorts: list[dict[str, Any]] = Field(description="Per quarter: CBPE estimate beside realized figures.")
    realized: dict[str, Any] | None = Field(
        description="Metrics with bootstrap intervals on a matured cohort."
    )
    estimated: dict[str, Any] | None = Field(description="CBPE estimate for this quarter's leads.")
    deciles: list[dict[str, Any]] | None
    curves: dict[str, Any] | None
    segments: dict[str, list[dict[str, Any]]]
    drift: dict[str, Any]
    settings: dict[str, Any]


router = APIRouter(prefix="/v1", tags=["monitoring"], dependencies=[Depends(require_api_key)])

Quarter = Annotated[str, Query(min_length=6, max_length=8, description="Report quarter, e.g. 2026Q3.")]
Format = Annotated[
    Literal["json", "html"],
    Query(description="`json` (the report's JSON twin) or `html` (self-contained page)."),
]


@router.get(
    "/report",
    summary="Quarterly model-accuracy report",
    description="The quarterly review of the logged scores: realized accuracy on matured cohorts (AUC, "
    "PR AUC, KS, Brier, log loss, calibration, lift, confusion at the MQL/SQL thresholds, bootstrap "
    "intervals), CBPE estimates for immature ones, bands, segments, drift against the serving bundle's "
    "reference, KPIs and recommendations with the rule behind each. `format=html` returns the page.",
    responses={
        200: {
            "model": QuarterlyReportDocument,
            "content": {"text/html": {}},
            "description": "The report as JSON (schema below) or, with format=html, a self-contained page.",
        },
        **error_responses(401, 422, 503),
    },
)
def get_report(
    services: ServicesDep, current: ModelDep, quarter: Quarter, format: Format = "json"
) -> Response:
    """Build the report for ``quarter`` from the prediction log."""
    try:
        period = parse_quarter(quarter)
    except ReportInputError as exc:
        raise ApiError(422, "validation_error", str(exc), "quarter") from None
    store, writer = services.require_store()
    writer.flush()  # scores queued a moment ago count
    params = ReportParams()
    bundle = current.bundle
    scored = report_input(store.report_scores(*log_window(str(period), params)), bundle.bands)
    if scored.empty:
        raise ApiError(
            422, "validation_error", f"no lead was scored in {period} or the quarters before", "quarter"
        )
    try:
        report = build_quarterly_report(
            scored,
            str(period),
            params,
            reference=add_segments(bundle.reference),
            model={"bundle": current.version},
            source="this service's prediction log: each lead's latest score made before its close, joined "
            "with the outcomes the CRM posted",
        )
    except ReportInputError as exc:
        raise ApiError(422, "validation_error", str(exc), "quarter") from None
    if format == "html":
        return HTMLResponse(render_html(report))
    return Response(render_json(report), media_type="application/json")
