"""The serving model: what it is, and a manual reload (the poller reloads on its own when the alias moves)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends

from leadscore.serving.deps import ApiKeyName, ModelDep, ServicesDep, require_api_key
from leadscore.serving.errors import ApiError, error_responses
from leadscore.serving.schemas import ModelInfo, ReloadResponse

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/model", tags=["model"], dependencies=[Depends(require_api_key)])


@router.get(
    "",
    response_model=ModelInfo,
    summary="The model serving now",
    description="Bundle version (content hash), where it was loaded from, when, and its provenance metadata "
    "(git SHA, params and data hashes, feature names, band thresholds, training metrics).",
    responses=error_responses(401, 503),
)
async def get_model_info(current: ModelDep) -> ModelInfo:
    """Describe the current bundle."""
    return ModelInfo(
        version=current.version,
        source=current.source,
        source_revision=current.source_revision,
        loaded_at=current.loaded_at,
        metadata=dict(current.bundle.metadata),
    )


@router.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Reload the model now",
    description="Resolve the model URI again (the registry alias may have moved), load and warm up the "
    "bundle, and swap it in atomically: requests in flight finish on the old one. A bundle that fails to "
    "load or to score the warm-up lead is refused with 409, and the previous model keeps serving.",
    responses=error_responses(401, 409),
)
def reload_model(services: ServicesDep, key_name: ApiKeyName) -> ReloadResponse:
    """Blocking on purpose: the caller learns whether the new model is serving."""
    logger.info("model reload requested by key %r", key_name)
    result = services.holder.reload(force=True)
    if result.status == "refused":
        serving = result.previous_version or "nothing"
        raise ApiError(409, "reload_refused", f"{result.reason}; still serving {serving}")
    assert result.version is not None
    return ReloadResponse(
        status="reloaded" if result.status == "reloaded" else "unchanged",
        version=result.version,
        previous_version=result.previous_version,
    )
