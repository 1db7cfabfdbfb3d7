"""Scoring: one lead or a batch, through ``bundle.score_records`` (the fast path of ``bundle.score``).

``POST /v1/score`` has two entry points around the same ``score_leads``: the FastAPI route below (OpenAPI
docs, and any request whose media type is not JSON) and ``score_lead_asgi``, which the request middleware
calls directly for JSON bodies. FastAPI's generic machinery (routing through included routers, the exit-stack
and exception middlewares, ``await request.json()`` then python-mode validation, dependency solving) cost
about a third of a single-lead request's CPU; the direct entry reads the body, checks the key, validates the
raw bytes with ``LeadIn.model_validate_json`` (pydantic's Rust JSON parser, one pass) and answers with the
same status codes and error bodies as the route (tests run both).

One lead costs ~0.2 ms of CPU, less than handing it to the thread pool and back (a thread switch, a wake-up
of the event loop through its self-pipe, and GIL hand-overs between busy threads), so ``/v1/score`` is
``async def`` and scores on the event loop; concurrency comes from worker processes (LEADSCORE_WORKERS), not
threads. The single-lead requests a worker has in hand at the same moment are scored together
(``leadscore.serving.batcher``: most of a lead's scoring cost is fixed per call), each keeping its own result,
error, request id and log row. A batch of up to LEADSCORE_MAX_BATCH_SIZE leads takes tens of milliseconds, so
``/v1/score/batch`` stays a plain ``def`` in the thread pool, where the GIL's switch interval lets the event
loop keep answering single-lead calls meanwhile.

The hot path builds no DataFrame and commits nothing: the log rows (with the raw feature values this very
scoring call built) go to the background writer's queue, and the response is serialised once, straight to
bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from leadscore.core import canonical
from leadscore.core.errors import LeadscoreError
from leadscore.serving.batcher import LeadBatcher
from leadscore.serving.deps import ScoringContext, ScoringDep, Services, scoring_context_for
from leadscore.serving.errors import (
    ApiError,
    domain_error_response,
    error_responses,
    http_error_response,
    validation_error_response,
)
from leadscore.serving.extras import extra_columns, resolve_extras
from leadscore.serving.model_holder import LoadedModel
from leadscore.serving.schemas import BatchScoreRequest, BatchScoreResponse, LeadIn, ScoreResponse
from leadscore.serving.store import PredictionRow

logger = logging.getLogger(__name__)

# No router-level key dependency: ScoringDep checks the key itself, as the hot path's only dependency.
router = APIRouter(prefix="/v1", tags=["scoring"])

_MISSING_BODY = {"type": "missing", "loc": ("body",), "msg": "Field required"}
_RESPONSE_KEYS = ("lead_id", "probability", "score", "band", "is_mql", "is_sql")
# A full log buffer: how long a batch (thread pool) waits for room, and when clients should retry.
_BATCH_LOG_WAIT_SECONDS = 5.0
_RETRY_AFTER_SECONDS = 1


@router.post(
    "/score",
    response_model=ScoreResponse,
    summary="Score one lead",
    description="Calibrated conversion probability, 0-100 score, band, MQL/SQL flags and the top reasons "
    "either way, in business words. Contact fields (contact_name, email, phone) are accepted and dropped.",
    responses=error_responses(401, 413, 422, 503),
)
async def score_lead(lead: LeadIn, ctx: ScoringDep) -> Response:
    """Score one lead inline (see the module docstring) and queue its log row."""
    results = score_leads([lead], ctx, batch=False)
    return Response(to_json(results[0], fallback=_plain), media_type="application/json")


async def score_lead_asgi(scope: Scope, receive: Receive, send: Send, request_id: str) -> bool:
    """``POST /v1/score`` without FastAPI's per-request machinery (see the module docstring).

    Body read (the middleware's size limit applies), key (401), model (503), validation (422 naming the
    field), scoring. Unlike FastAPI, which parses the JSON before its dependencies run, a malformed body
    from a caller without a valid key is a 401: unauthenticated input is never parsed. Returns False,
    having read nothing, for a body whose media type is not JSON (or not given), which the FastAPI route
    then handles (and refuses) as it always did.
    """
    key: str | None = None
    content_type: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"x-api-key" and key is None:
            key = value.decode("latin-1")
        elif name == b"content-type" and content_type is None:
            content_type = value
    if content_type is None or not _is_json(content_type):
        return False
    services: Services = scope["app"].state.services
    body = await _read_body(receive)
    try:
        ctx = scoring_context_for(services, key, request_id)
        if not body:  # FastAPI's wording for a missing body
            response = validation_error_response([_MISSING_BODY])
        else:
            try:
                lead = LeadIn.model_validate_json(body)
            except ValidationError as exc:
                response = validation_error_response(exc.errors(include_url=False, include_input=False))
            else:
                _check_intent_names([lead], [0], ctx.model, batch=False)  # this request's 422 alone
                body = to_json(await services.lead_batcher.score(lead, ctx), fallback=_plain)
                headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return True
    except HTTPException as exc:
        response = http_error_response(exc)
    except LeadscoreError as exc:
        response = domain_error_response(exc, request_id)
    await response(scope, receive, send)
    return True


def _is_json(content_type: bytes) -> bool:
    # FastAPI's rule: application/json or application/<anything>+json, parameters (charset) ignored.
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


@router.post(
    "/score/batch",
    response_model=BatchScoreResponse,
    summary="Score a batch of leads",
    description="Up to LEADSCORE_MAX_BATCH_SIZE leads in one model pass; results keep the request order. "
    "A larger batch is refused with 413 (split it).",
    responses=error_responses(401, 413, 422, 503),
)
def score_batch(body: BatchScoreRequest, ctx: ScoringDep) -> Response:
    """Score many leads at once."""
    limit = ctx.services.settings.max_batch_size
    if len(body.leads) > limit:
        raise ApiError(
            413, "batch_too_large", f"{len(body.leads)} leads in one batch; the limit is {limit}", "leads"
        )
    results = score_leads(body.leads, ctx, batch=True)
    payload = {"model_version": ctx.model.version, "count": len(results), "results": results}
    return Response(to_json(payload, fallback=_plain), media_type="application/json")


def score_micro_batch(leads: Sequence[LeadIn], contexts: Sequence[ScoringContext]) -> list[dict[str, Any]]:
    """Score single-lead requests together (``serving.batcher``): each keeps its own request id and caller.

    The batcher only groups requests served by the same model object, so the first context's model is all
    of theirs.
    """
    callers = [(c.request_id, c.key_name) for c in contexts]
    return score_leads(list(leads), contexts[0], batch=False, callers=callers)


def new_lead_batcher() -> LeadBatcher[LeadIn, ScoringContext]:
    """The batcher of one app's single-lead requests."""
    return LeadBatcher(score_micro_batch, lead_id=lambda lead: lead.lead_id, model_of=lambda ctx: ctx.model)


def score_leads(
    leads: list[LeadIn],
    ctx: ScoringContext,
    *,
    batch: bool,
    callers: Sequence[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Score leads with one bundle object (never mixed across a reload) and queue their log rows.

    ``callers`` gives each lead's (request id, API key name) when the leads come from different requests
    (micro-batches); by default they are all ``ctx``'s. ``batch`` says the leads are one batch request's
    (errors then name ``leads.<i>``, and a full log buffer is waited for a little).

    Leads sent with pre-aggregated ``intent`` counts and leads sent with raw ``activities`` go through the
    bundle separately, because the bundle reads intent columns only when it is given no activity log. The log
    rows of all groups are queued together once every group has scored: a refused request logs nothing.

    The single-lead call runs on the event loop, so it never waits for room in the log writer's buffer: a full
    buffer (the database far behind or down) is a 503 with Retry-After instead of a blocked loop (or a lost
    row). A batch, in the thread pool, waits a little first.
    """
    _, writer = ctx.services.require_store()
    current = ctx.model
    bundle = current.bundle
    extras = extra_columns(bundle.spec.extra_categorical, bundle.spec.extra_numeric)
    top = ctx.services.settings.top_reasons
    scored_at = datetime.now(UTC)
    logged_at = scored_at.replace(tzinfo=None)
    intent_idx = [i for i, lead in enumerate(leads) if lead.intent is not None]
    groups = (
        [intent_idx, [i for i, lead in enumerate(leads) if lead.intent is None]]
        if intent_idx
        else [list(range(len(leads)))]
    )
    results: list[dict[str, Any] | None] = [None] * len(leads)
    rows: list[PredictionRow] = []
    for group in groups:
        if not group:
            continue
        records = [
            leads[i].to_record(
                resolve_extras(leads[i].extras, extras, index=i if batch else None)
                if extras or leads[i].extras
                else None
            )
            for i in group
        ]
        activities: list[dict[str, Any]] | None = None
        if leads[group[0]].intent is not None:
            _check_intent_names(leads, group, current, batch)
        else:
            activities = [
                {
                    canonical.ACTIVITY_LEAD_ID: leads[i].lead_id,
                    canonical.ACTIVITY_AT: a.occurred_at,
                    canonical.ACTIVITY_TYPE: a.activity_type,
                }
                for i in group
                for a in leads[i].activities or ()
            ]
        outputs = bundle.score_records(
            records, activities, top_reasons=max(top, 1), with_reasons=top > 0, with_features=True
        )
        for i, out in zip(group, outputs, strict=True):
            results[i] = {
                **{key: out[key] for key in _RESPONSE_KEYS},
                "reasons_positive": out["reasons_positive"],
                "reasons_negative": out["reasons_negative"],
                "model_version": current.version,
                "scored_at": scored_at,
            }
            rows.append(
                PredictionRow(
                    lead_id=out["lead_id"],
                    model_version=current.version,
                    features_hash=out["features_hash"],
                    probability=out["probability"],
                    score=out["score"],
                    band=out["band"],
                    scored_at=logged_at,
                    request_id=ctx.request_id if callers is None else callers[i][0],
                    api_key_name=ctx.key_name if callers is None else callers[i][1],
                    features=out["features"],
                )
            )
    if not writer.submit(rows, timeout=_BATCH_LOG_WAIT_SECONDS if batch else 0.0):
        raise ApiError(
            503,
            "log_backlog",
            "the prediction log is too far behind (its database is slow or down), so this request was "
            f"neither logged nor scored; retry in {_RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(_RETRY_AFTER_SECONDS)},
        )
    return results  # type: ignore[return-value]


def _check_intent_names(leads: list[LeadIn], group: list[int], current: LoadedModel, batch: bool) -> None:
    known = current.intent_names
    for i in group:
        for name in leads[i].intent or {}:
            if name not in known:
                field = f"leads.{i}.intent.{name}" if batch else f"intent.{name}"
                raise ApiError(
                    422,
                    "validation_error",
                    f"{name!r} is not an intent feature of model {current.version}",
                    field,
                )


def _plain(value: Any) -> Any:
    # numpy scalars from the bundle's columnar path
    if hasattr(value, "item"):
        return value.item()
    return str(value)
