"""Request dependencies: the API key check, the serving model and the shared services.

All of them are ``async def`` on purpose: they do no I/O, and a plain ``def`` dependency would cost a
thread-pool hop per request on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from leadscore.monitoring.drift import DriftMonitor
from leadscore.serving.auth import API_KEY_HEADER, ApiKeyAuthenticator
from leadscore.serving.batcher import LeadBatcher
from leadscore.serving.errors import ApiError
from leadscore.serving.model_holder import LoadedModel, ModelHolder
from leadscore.serving.settings import ServingSettings
from leadscore.serving.store import PredictionStore, PredictionWriter


@dataclass
class Services:
    """Everything a route needs, built by ``create_app`` and opened/closed by the lifespan."""

    settings: ServingSettings
    auth: ApiKeyAuthenticator
    holder: ModelHolder
    # Single-lead requests of one event-loop turn are scored together (leadscore.serving.batcher).
    lead_batcher: LeadBatcher[Any, Any]
    store: PredictionStore | None = None
    writer: PredictionWriter | None = None
    # Drift monitor fitted on a bundle's reference, with its monitored features, by bundle version.
    drift_monitors: dict[str, tuple[DriftMonitor, list[str]]] = field(default_factory=dict)

    def require_store(self) -> tuple[PredictionStore, PredictionWriter]:
        """Store and writer, or 503 while the lifespan has not opened them."""
        if self.store is None or self.writer is None:
            raise ApiError(503, "not_ready", "the prediction log is not open yet")
        return self.store, self.writer


_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="API key created with `leadscore keys create NAME` (only its SHA-256 hash is stored).",
)


def services_of(request: Request) -> Services:
    """The Services object attached to the app."""
    services: Services = request.app.state.services
    return services


def _caller_name(services: Services, key: str | None) -> str:
    name = services.auth.authenticate(key)
    if name is None:
        raise ApiError(401, "unauthorized", "missing X-API-Key header" if not key else "invalid API key")
    return name


def _serving_model(services: Services) -> LoadedModel:
    current = services.holder.current
    if current is None:
        reason = f" (last attempt: {services.holder.last_error})" if services.holder.last_error else ""
        raise ApiError(503, "not_ready", f"no model loaded yet{reason}; retry when GET /health/ready is 200")
    return current


async def require_api_key(request: Request, key: Annotated[str | None, Security(_api_key_header)]) -> str:
    """Return the caller's key *name* (what gets logged), or answer 401."""
    return _caller_name(services_of(request), key)


async def get_model(request: Request) -> LoadedModel:
    """The model serving now, or 503 until the first load and warm-up have succeeded."""
    return _serving_model(services_of(request))


@dataclass(frozen=True)
class ScoringContext:
    """What a scoring request needs, resolved by one dependency (each extra dependency costs ~20 us)."""

    services: Services
    model: LoadedModel
    key_name: str
    request_id: str


async def scoring_context(
    request: Request, key: Annotated[str | None, Security(_api_key_header)]
) -> ScoringContext:
    """API key check (401), serving model (503), services and request id, in one step for the hot path."""
    return scoring_context_for(services_of(request), key, request.state.request_id)


def scoring_context_for(services: Services, key: str | None, request_id: str) -> ScoringContext:
    """The scoring context of a request with this key (401 / 503 as ``scoring_context``)."""
    name = _caller_name(services, key)
    return ScoringContext(services, _serving_model(services), name, request_id)


async def get_services(request: Request) -> Services:
    """Dependency form of ``services_of``."""
    return services_of(request)


ApiKeyName = Annotated[str, Depends(require_api_key)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
ServicesDep = Annotated[Services, Depends(get_services)]
ScoringDep = Annotated[ScoringContext, Depends(scoring_context)]
