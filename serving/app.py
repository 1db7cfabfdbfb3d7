"""The scoring API: ``create_app(settings)`` builds it, the lifespan opens and closes what it holds.

Nothing happens at import time and nothing global is shared between apps, so tests build as many apps as they
like. Start-up order: open the prediction log (migrations run here), start its writer, start the model holder
in the background (the service answers /health/live at once and /health/ready once a model is loaded and
warmed). Shutdown is the reverse, and the writer is drained before the process exits so no scored lead goes
unlogged.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from leadscore.serving.auth import ApiKeyAuthenticator
from leadscore.serving.deps import Services
from leadscore.serving.errors import install_error_handlers
from leadscore.serving.middleware import RequestContextMiddleware
from leadscore.serving.model_holder import holder_for
from leadscore.serving.routes import accuracy, drift, health, model, outcomes, report, score
from leadscore.serving.settings import ServingSettings
from leadscore.serving.store import PredictionStore, PredictionWriter

logger = logging.getLogger(__name__)

GIL_SWITCH_SECONDS = 0.001

API_DESCRIPTION = """
Calibrated lead scores with reasons, the prediction log behind them, and the monitoring read-outs.

* Every route except `/health/*` needs an `X-API-Key` header (`leadscore keys create NAME`).
* Errors always have the body `{"error": {"code", "message", "field"}}`.
* Scores are calibrated probabilities: `score` = round(100 x probability), bands are fixed probability ranges.
"""


class ScoringAPI(FastAPI):
    """FastAPI with a front door for the hot routes (``front.fast_routes``: the single-lead score).

    Every request to FastAPI passes its own middleware stack (server errors, telemetry, body limit, exception
    handling) before ours; for a ~0.3 ms scoring request that stack was a tenth of the CPU. Requests for a
    fast route go to ``front`` instead, which gives them the request id, body limit and last-resort 500 of
    ``RequestContextMiddleware`` and hands whatever the route declines back to the full FastAPI app. Every
    other request (lifespan included) goes through FastAPI as usual. ``front = None`` turns the door off.
    """

    front: RequestContextMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI scope."""
        front = self.front
        if (
            front is not None
            and scope["type"] == "http"
            and (scope["method"], scope["path"]) in front.fast_routes
        ):
            scope["app"] = self
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: ServingSettings) -> ScoringAPI:
    """Build the API for ``settings`` (validated runtime settings; see ``leadscore.serving.settings``)."""
    services = Services(
        settings=settings,
        auth=ApiKeyAuthenticator(
            settings.api_keys_file, settings.env_key_hashes, refresh_seconds=settings.keys_refresh_seconds
        ),
        holder=holder_for(settings.model_uri, settings.tracking_uri),
        lead_batcher=score.new_lead_batcher(),
    )
    if not services.auth.key_names:
        logger.warning(
            "no API keys configured: every /v1 request will be refused (leadscore keys create NAME)"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The log writer and the batch route's threads take the GIL for at most this long before the event
        # loop (serving ~1 ms requests) gets it back; Python's default of 5 ms would be a p99 floor.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        # Migrations and the first connection block; keep the event loop free while they run.
        store = await anyio.to_thread.run_sync(PredictionStore.open, settings.database_url)
        writer = PredictionWriter(
            store,
            batch_size=settings.log_batch_size,
            flush_seconds=settings.log_flush_seconds,
            queue_max=settings.log_queue_max,
        )
        writer.start()
        services.store, services.writer = store, writer
        services.holder.start(settings.reload_poll_seconds)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(services.holder.stop)
            # Every request has finished by now (uvicorn waits for them), so draining loses nothing.
            await anyio.to_thread.run_sync(writer.stop)
            store.close()
            services.store = services.writer = None

    app = ScoringAPI(
        title="leadscore scoring API",
        version="1",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json" if settings.public_docs else None,
        docs_url="/docs" if settings.public_docs else None,
        redoc_url="/redoc" if settings.public_docs else None,
    )
    app.state.services = services
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    app.front = RequestContextMiddleware(
        functools.partial(FastAPI.__call__, app),
        max_body_bytes=settings.max_body_bytes,
        fast_routes={("POST", "/v1/score"): score.score_lead_asgi},
    )
    install_error_handlers(app)
    for module in (health, score, outcomes, accuracy, drift, model, report):
        app.include_router(module.router)
    return app


def app_from_environment() -> ScoringAPI:
    """Factory for ``uvicorn --factory`` and multi-worker runs: settings from LEADSCORE_* variables.

    Worker processes are spawned fresh, so this entry point configures their logging itself.
    """
    from leadscore.core.logs import configure_logging
    from leadscore.serving.settings import load_settings

    settings = load_settings()
    configure_logging(getattr(logging, settings.log_level.upper()))
    return create_app(settings)
