"""``POST /v1/score`` answers the same through its direct ASGI entry as through the FastAPI route.

The request middleware hands JSON single-lead requests to ``score_lead_asgi`` instead of FastAPI's machinery.
Two real uvicorn servers serve the same bundle, one with that shortcut and one without it, and get the same
requests: valid leads (intent counts, activities, contact fields), every kind of invalid body, wrong keys and
other media types. Status codes and bodies must be identical (``scored_at`` and the parser's own wording
of a body that is not a JSON object at all aside).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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

JSON = {"content-type": "application/json"}
# Requests whose body as a whole is not a lead object: the message wording is the parser's own.
OWN_WORDING = {"not JSON", "a list"}


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory, tiny_bundle_dir: Path) -> Iterator[dict[str, Any]]:
    fast_app = create_app(service_settings(tmp_path_factory.mktemp("fast"), tiny_bundle_dir))
    route_app = create_app(service_settings(tmp_path_factory.mktemp("route"), tiny_bundle_dir))
    assert route_app.front is not None
    assert ("POST", "/v1/score") in route_app.front.fast_routes
    route_app.front = None  # this one goes through FastAPI for every request
    with running_server(fast_app) as fast, running_server(route_app) as route:
        with httpx.Client(base_url=fast.base_url) as f, httpx.Client(base_url=route.base_url) as r:
            yield {"fast": f, "route": r, "fast_app": fast_app}


def requests(live_leads: LiveLeads) -> list[tuple[str, dict[str, str], bytes]]:
    """(what, headers, body) covering success and every error branch of the single-lead route."""
    import json

    [lead] = lead_payloads(live_leads.leads.iloc[:1], None)
    [with_events] = lead_payloads(live_leads.leads.iloc[1:2], live_leads.activities)
    intent = {**lead, "intent": {"intent_total": 3.0}}
    auth = {**JSON, "X-API-Key": API_KEY}

    def body(doc: object) -> bytes:
        return json.dumps(doc).encode()

    return [
        ("intent counts", auth, body(intent)),
        ("activities", auth, body(with_events)),
        ("contact fields", auth, body({**lead, "email": "ada@example.com", "contact_name": "Ada"})),
        ("charset", {**auth, "content-type": "application/json; charset=utf-8"}, body(lead)),
        ("+json media type", {**auth, "content-type": "application/vnd.lead+json"}, body(lead)),
        ("string for a number", auth, body({**lead, "employees": "250"})),
        ("missing created_at", auth, body({k: v for k, v in lead.items() if k != "created_at"})),
        ("unknown field", auth, body({**lead, "employes": 3})),
        ("unknown intent feature", auth, body({**lead, "intent": {"intent_telepathy_7d": 1}})),
        ("negative intent", auth, body({**lead, "intent": {"intent_total": -1}})),
        ("intent and activities", auth, body({**with_events, "intent": {}})),
        ("bad timestamp", auth, body({**lead, "created_at": "yesterday"})),
        ("not JSON", auth, b'{"lead_id": '),
        ("empty body", auth, b""),
        ("a list", auth, body([lead])),
        ("no key", JSON, body(lead)),
        ("wrong key", {**JSON, "X-API-Key": "lsk_wrong"}, body(lead)),
        ("text/plain", {**auth, "content-type": "text/plain"}, body(lead)),
        ("no content type", {"X-API-Key": API_KEY}, body(lead)),
    ]


def test_direct_entry_answers_like_the_fastapi_route(clients: dict[str, Any], live_leads: LiveLeads) -> None:
    statuses = set()
    for what, headers, content in requests(live_leads):
        answers = []
        for name in ("fast", "route"):
            response = clients[name].post("/v1/score", headers=headers, content=content)
            payload = response.json()
            if response.status_code == 200:
                assert payload.pop("scored_at")
            elif what in OWN_WORDING:
                # Whole-body errors: JSON parsing vs pydantic's JSON mode word them differently.
                assert payload["error"]["message"], what
                payload["error"]["message"] = "(parser's wording)"
            answers.append((response.status_code, payload, response.headers["content-type"]))
            assert response.headers["x-request-id"], what
        assert answers[0] == answers[1], what
        statuses.add(answers[0][0])
        if what == "contact fields":
            assert "ada" not in str(answers[0][1]).lower()
    assert statuses == {200, 401, 422}


def test_direct_entry_checks_the_key_before_parsing_the_body(clients: dict[str, Any]) -> None:
    # FastAPI's route parses JSON before its dependencies run (a malformed body is a 422 even without a
    # key); the direct entry does not parse what an unauthenticated client sent.
    for headers in (JSON, {**JSON, "X-API-Key": "lsk_wrong"}):
        response = clients["fast"].post("/v1/score", headers=headers, content=b'{"lead_id": ')
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_direct_entry_keeps_the_request_id_and_logs_the_lead(
    clients: dict[str, Any], live_leads: LiveLeads
) -> None:
    [lead] = lead_payloads(live_leads.leads.iloc[2:3], None)
    response = clients["fast"].post(
        "/v1/score", json=lead, headers={"X-API-Key": API_KEY, "X-Request-ID": "fast-route-1"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "fast-route-1"
    services = clients["fast_app"].state.services
    assert services.writer.flush()
    logged = services.store.engine.connect().exec_driver_sql(
        "SELECT lead_id, api_key_name FROM predictions WHERE request_id = 'fast-route-1'"
    )
    assert logged.all() == [(lead["lead_id"], "tests")]
