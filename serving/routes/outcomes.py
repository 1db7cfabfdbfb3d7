"""Outcomes from the CRM: the labels that turn the prediction log into realized accuracy."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends

from leadscore.serving.deps import ServicesDep, require_api_key
from leadscore.serving.errors import error_responses
from leadscore.serving.schemas import OutcomesRequest, OutcomesResponse
from leadscore.serving.store import OutcomeRecord

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["outcomes"], dependencies=[Depends(require_api_key)])


@router.post(
    "/outcomes",
    response_model=OutcomesResponse,
    summary="Record won/lost outcomes",
    description="Idempotent: posting the same outcome again changes nothing, a changed outcome (or close "
    "date) updates the stored one. Lead ids this service never scored are listed in `unknown_lead_ids` and "
    "not stored; the rest of the post is still applied.",
    responses=error_responses(401, 413, 422, 503),
)
def post_outcomes(body: OutcomesRequest, services: ServicesDep) -> OutcomesResponse:
    """Upsert outcomes after making sure every queued prediction is in the database."""
    store, writer = services.require_store()
    # A lead scored a moment ago may still be in the writer's queue; without this it would look unknown.
    writer.flush()
    result = store.upsert_outcomes([OutcomeRecord(o.lead_id, o.outcome, o.closed_at) for o in body.outcomes])
    if result.unknown_lead_ids:
        logger.info(
            "outcomes: %d of %d lead ids were never scored", len(result.unknown_lead_ids), len(body.outcomes)
        )
    return OutcomesResponse(
        received=len(body.outcomes),
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        unknown_lead_ids=result.unknown_lead_ids,
    )
