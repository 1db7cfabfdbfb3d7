"""A prediction-log outage under traffic: the event loop never waits for the log, and nothing is lost.

A real uvicorn serves the tiny bundle with the smallest log buffer allowed. The SQLite log "goes down" (its
table renamed away), so the writer retries its in-flight rows while new requests fill the buffer. Once the
buffer is full a single-lead score must be refused at once with 503 + Retry-After (it runs on the event loop:
waiting there would stall every request, health checks included), and when the database is back every row of
every accepted request is written.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from leadscore.serving.app import create_app
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    API_KEY,
    LiveLeads,
    lead_payloads,
    live_leads_fixture,
    running_server,
    service_settings,
    tiny_bundle_dir_fixture,
)

AUTH = {"X-API-Key": API_KEY}
QUEUE_MAX = 100  # the settings' minimum


def rename(db: Path, old: str, new: str) -> None:
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
    engine.dispose()


def test_a_full_log_buffer_is_a_503_at_once_and_no_accepted_row_is_lost(
    tmp_path: Path, tiny_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    settings = service_settings(tmp_path, tiny_bundle_dir, log_queue_max=QUEUE_MAX)
    [lead] = lead_payloads(live_leads.leads.iloc[:1], None)
    db = tmp_path / "predictions.db"
    with (
        running_server(create_app(settings)) as server,
        httpx.Client(base_url=server.base_url, timeout=5.0) as http,
    ):
        writer = server.app.state.services.writer
        rename(db, "predictions", "predictions_offline")  # the outage
        assert http.post("/v1/score", json={**lead, "lead_id": "IN-FLIGHT"}, headers=AUTH).status_code == 200
        deadline = time.monotonic() + 10
        while writer.failed_batches < 1 and time.monotonic() < deadline:  # taken by the writer, retrying
            time.sleep(0.01)
        assert writer.failed_batches >= 1
        for i in range(QUEUE_MAX):
            response = http.post("/v1/score", json={**lead, "lead_id": f"QUEUED-{i}"}, headers=AUTH)
            assert response.status_code == 200, response.text
        started = time.monotonic()
        refused = http.post("/v1/score", json={**lead, "lead_id": "REFUSED"}, headers=AUTH)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "log_backlog"
        assert http.get("/health/live").status_code == 200  # the loop kept answering
        assert time.monotonic() - started < 2
        rename(db, "predictions_offline", "predictions")  # the database is back
        assert writer.flush(timeout=60)
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            logged = {row[0] for row in conn.execute(text("SELECT lead_id FROM predictions"))}
        engine.dispose()
    assert {"IN-FLIGHT", *(f"QUEUED-{i}" for i in range(QUEUE_MAX))} <= logged
    assert "REFUSED" not in logged
    assert writer.lost == 0
