"""Liveness and readiness probes (no API key: orchestrators call them)."""

from __future__ import annotations

from fastapi import APIRouter

from leadscore.serving.deps import ServicesDep
from leadscore.serving.errors import ApiError, error_responses
from leadscore.serving.schemas import HealthResponse

router = APIRouter(prefix="/health", tags=["health"])


@router.get(
    "/live",
    response_model=HealthResponse,
    summary="Liveness",
    description="200 while the process serves HTTP, even before a model is loaded.",
)
async def live() -> HealthResponse:
    """Answer while the event loop runs."""
    return HealthResponse(status="ok")


@router.get(
    "/ready",
    response_model=HealthResponse,
    summary="Readiness",
    description="200 once a model is loaded and its warm-up score succeeded and the prediction log is open; "
    "503 before that. Route traffic only to ready instances.",
    responses=error_responses(503),
)
async def ready(services: ServicesDep) -> HealthResponse:
    """Ready means a warmed-up model and an open prediction log."""
    current = services.holder.current
    if current is None:
        # No details without a key: the reason (paths, registry errors) is in the log and behind /v1.
        state = "the last load failed" if services.holder.last_error else "loading"
        raise ApiError(503, "not_ready", f"no model serving yet ({state})")
    if services.writer is None or not services.writer.alive:
        raise ApiError(503, "not_ready", "the prediction log is not open")
    return HealthResponse(status="ready", model_version=current.version)
