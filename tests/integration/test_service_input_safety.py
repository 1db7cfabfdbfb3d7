"""Input that parses as JSON but that the prediction log's database cannot hold, on a real uvicorn.

Parametrised over SQLite and PostgreSQL (the latter skipped with a reason when LEADSCORE_TEST_POSTGRES_URL is
unset or unreachable): the defects these tests pin down showed on PostgreSQL, which refuses a NUL in text. A
scored lead id "\\u0000" made the log writer retry its batch forever, so after ``log_queue_max`` more requests
every /v1/score was a 503; the same id on /v1/outcomes was a 500. Out-of-range query times overflowed the
conversion to UTC (500), and " L1 " was scored as L1 but its outcome looked up as " L1 " (unknown).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadscore.serving.app import create_app
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    API_KEY,
    LiveLeads,
    RunningServer,
    json_value,
    lead_payloads,
    live_leads_fixture,
    outcome_for,
    postgres_url_fixture,
    running_server,
    service_settings,
    store_url_fixture,
    tiny_bundle_dir_fixture,
    tiny_bundle_fixture,
)

AUTH = {"X-API-Key": API_KEY}
NUL = "\u0000"


@pytest.fixture(name="server")
def server_fixture(tmp_path: Path, tiny_bundle_dir: Path, store_url: str) -> Iterator[RunningServer]:
    settings = service_settings(tmp_path, tiny_bundle_dir, database_url=store_url, log_queue_max=100)
    with running_server(create_app(settings)) as running:
        yield running


@pytest.fixture(name="client")
def client_fixture(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        yield http


def assert_422(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)


def test_control_characters_are_a_422_and_the_log_keeps_flowing(
    server: RunningServer, client: httpx.Client, live_leads: LiveLeads, caplog: pytest.LogCaptureFixture
) -> None:
    lead, with_events = lead_payloads(live_leads.leads.iloc[:2], live_leads.activities)
    for bad in (NUL, f"L{NUL}1", "L\u00071"):
        assert_422(client.post("/v1/score", json={**lead, "lead_id": bad}, headers=AUTH), "lead_id")
        batch = client.post(
            "/v1/score/batch", json={"leads": [lead, {**with_events, "lead_id": bad}]}, headers=AUTH
        )
        assert_422(batch, "leads.1.lead_id")
        outcome = {"lead_id": bad, "outcome": "won", "closed_at": "2025-06-01T00:00:00Z"}
        assert_422(
            client.post("/v1/outcomes", json={"outcomes": [outcome]}, headers=AUTH), "outcomes.0.lead_id"
        )
    event = {"occurred_at": json_value(live_leads.leads["created_at"].iloc[0]), "activity_type": f"web{NUL}"}
    assert_422(
        client.post("/v1/score", json={**lead, "activities": [event]}, headers=AUTH),
        "activities.0.activity_type",
    )
    assert_422(client.get("/v1/accuracy", params={"model_version": NUL}, headers=AUTH), "model_version")
    assert_422(client.get("/v1/drift", params={"model_version": NUL}, headers=AUTH), "model_version")
    # More than log_queue_max requests after the refusals: all scored and logged, none refused with a 503.
    for i in range(120):
        response = client.post("/v1/score", json={**lead, "lead_id": f"OK-{i}"}, headers=AUTH)
        assert response.status_code == 200, response.text
    writer = server.app.state.services.writer
    assert writer.flush(timeout=20)
    assert (writer.written, writer.rejected, writer.failed_batches) == (120, 0, 0)
    assert "Traceback" not in caplog.text


def test_an_id_with_surrounding_spaces_is_one_lead_for_scores_and_outcomes(
    server: RunningServer, client: httpx.Client, live_leads: LiveLeads
) -> None:
    [lead] = lead_payloads(live_leads.leads.iloc[:1], None)
    scored = client.post("/v1/score", json={**lead, "lead_id": " SPACED-1 "}, headers=AUTH)
    assert scored.status_code == 200, scored.text
    assert scored.json()["lead_id"] == "SPACED-1"
    outcome = {"lead_id": " SPACED-1\t", "outcome": "won", "closed_at": "2030-01-01T00:00:00Z"}
    posted = client.post("/v1/outcomes", json={"outcomes": [outcome]}, headers=AUTH)
    assert posted.status_code == 200, posted.text
    assert (posted.json()["inserted"], posted.json()["unknown_lead_ids"]) == (1, [])
    assert outcome_for(server.app.state.services.store, "SPACED-1")[0] == "won"


@pytest.mark.parametrize("path", ["/v1/accuracy", "/v1/drift"])
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("start", "9999-12-31T23:00:00-05:00"),  # year 10000 in UTC
        ("end", "0001-01-01T00:00:00+01:00"),  # year 0 in UTC
        ("start", "9999-12-31T00:00:00"),
        ("end", "not-a-date"),
    ],
)
def test_out_of_range_window_bounds_are_a_422_naming_the_parameter(
    client: httpx.Client, caplog: pytest.LogCaptureFixture, path: str, param: str, value: str
) -> None:
    response = client.get(path, params={param: value}, headers=AUTH)
    assert_422(response, param)
    assert "Traceback" not in caplog.text
    ok = client.get(
        path, params={"start": "2020-01-01T00:00:00+01:00", "end": "2200-12-31T00:00:00Z"}, headers=AUTH
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["start"].startswith("2019-12-31T23:00:00")  # naive UTC, like every stored time
