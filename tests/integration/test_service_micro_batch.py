"""Single-lead requests scored together (serving.batcher) get exactly what they get alone, and log as theirs.

In process: the app's own batcher, a real bundle and prediction log, requests with intent counts and with
activities mixed in one loop turn (so deterministically one batch). Then over HTTP: concurrent requests to a
real uvicorn, compared with the batch endpoint, each log row carrying its own request's id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from leadscore.models.bundle import OUTPUT_COLUMNS
from leadscore.serving.app import create_app
from leadscore.serving.deps import scoring_context_for
from leadscore.serving.routes.score import score_leads
from leadscore.serving.schemas import LeadIn
from leadscore.serving.store.tables import predictions
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    API_KEY,
    OTHER_KEY,
    LiveLeads,
    lead_payloads,
    live_leads_fixture,
    running_server,
    service_settings,
    tiny_bundle_dir_fixture,
)

# What a response and a batch result share: the bundle's output columns minus the features hash.
COMPARED = OUTPUT_COLUMNS[:-1]


@contextmanager
def logged_rows(tmp_path: Path) -> Iterator[list[Any]]:
    """(lead_id, request_id, api_key_name) of every row in the test service's prediction log."""
    engine = create_engine(f"sqlite:///{tmp_path / 'predictions.db'}")
    try:
        with engine.connect() as conn:
            yield conn.execute(
                select(predictions.c.lead_id, predictions.c.request_id, predictions.c.api_key_name)
            ).all()
    finally:
        engine.dispose()


def mixed_payloads(live_leads: LiveLeads, n: int) -> list[dict[str, Any]]:
    """n leads, every other one with pre-aggregated intent instead of its activity list."""
    payloads = lead_payloads(live_leads.leads.iloc[:n], live_leads.activities)
    for i, payload in enumerate(payloads):
        if i % 2:
            events = payload.pop("activities")
            payload["intent"] = {"intent_total": float(len(events))}  # type: ignore[arg-type]
    return payloads


def test_one_loop_turn_of_requests_is_one_batch_with_each_requests_own_numbers_and_log_row(
    tmp_path: Path, tiny_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    app = create_app(service_settings(tmp_path, tiny_bundle_dir))
    services = app.state.services
    leads = [LeadIn.model_validate(p) for p in mixed_payloads(live_leads, 12)]

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with app.router.lifespan_context(app):
            while services.holder.current is None:
                await asyncio.sleep(0.05)
            contexts = [
                scoring_context_for(services, API_KEY if i % 3 else OTHER_KEY, f"req-{i}")
                for i in range(len(leads))
            ]
            together = await asyncio.gather(
                *(services.lead_batcher.score(lead, ctx) for lead, ctx in zip(leads, contexts, strict=True))
            )
            assert (services.lead_batcher.batches, services.lead_batcher.leads) == (1, len(leads))
            alone = [
                score_leads([lead], ctx, batch=False)[0] for lead, ctx in zip(leads, contexts, strict=True)
            ]
            assert services.writer.flush()
            return together, alone

    together, alone = asyncio.run(main())
    for a, b in zip(together, alone, strict=True):
        assert {k: a[k] for k in COMPARED} == {k: b[k] for k in COMPARED}
    with logged_rows(tmp_path) as rows:
        batched = {r.request_id: (r.lead_id, r.api_key_name) for r in rows if r.request_id.startswith("req-")}
    assert batched == {
        f"req-{i}": (lead.lead_id, "other" if i % 3 == 0 else "tests") for i, lead in enumerate(leads)
    }


@pytest.mark.slow
def test_concurrent_http_requests_score_like_the_batch_endpoint(
    tmp_path: Path, tiny_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    payloads = mixed_payloads(live_leads, 24)
    app = create_app(service_settings(tmp_path, tiny_bundle_dir))
    headers = {"X-API-Key": API_KEY}
    with running_server(app) as server:

        async def concurrently() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                return await asyncio.gather(
                    *(client.post("/v1/score", json=p, headers=headers) for p in payloads)
                )

        answers = asyncio.run(concurrently())
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            reference = client.post("/v1/score/batch", json={"leads": payloads}, headers=headers).json()[
                "results"
            ]
            assert app.state.services.writer.flush()
    assert [a.status_code for a in answers] == [200] * len(payloads)
    for answer, expected in zip(answers, reference, strict=True):
        assert {k: answer.json()[k] for k in COMPARED} == {k: expected[k] for k in COMPARED}
    with logged_rows(tmp_path) as rows:
        logged = {r.request_id: r.lead_id for r in rows}
    for answer, payload in zip(answers, payloads, strict=True):
        assert logged[answer.headers["x-request-id"]] == payload["lead_id"]
