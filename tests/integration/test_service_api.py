"""The scoring API on a real uvicorn (127.0.0.1, free port) with a real tiny bundle and an SQLite log.

Covers: keys on every non-health route, readiness, the body limit (declared and streamed), strict validation,
parity with ``bundle.score``, PII never stored, the batch limit, the OpenAPI contract and no stack traces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import create_engine, text

from leadscore.models.bundle import ScoringBundle
from leadscore.serving.app import create_app
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    API_KEY,
    OTHER_KEY,
    LiveLeads,
    RunningServer,
    extras_bundle_dir_fixture,
    feature_frame,
    json_value,
    lead_payloads,
    live_leads_fixture,
    running_server,
    service_settings,
    tiny_bundle_dir_fixture,
    tiny_bundle_fixture,
)

AUTH = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service_api")


@pytest.fixture(scope="module")
def app(service_dir: Path, tiny_bundle_dir: Path) -> FastAPI:
    settings = service_settings(service_dir, tiny_bundle_dir, max_body_bytes=64 * 1024, max_batch_size=50)
    return create_app(settings)


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[RunningServer]:
    with running_server(app) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        yield http


def protected_routes(app: FastAPI) -> list[tuple[str, str]]:
    # FastAPI 0.165 wraps included routers; iter_route_contexts flattens them to the served paths.
    routes = [
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path is not None and not route.path.startswith("/health")
        for method in sorted(route.methods or ())
    ]
    assert len(routes) >= 7  # score, batch, outcomes, accuracy, drift, model, reload
    return routes


def test_every_non_health_route_refuses_missing_and_wrong_keys(app: FastAPI, client: httpx.Client) -> None:
    for method, path in protected_routes(app):
        for headers in ({}, {"X-API-Key": "lsk_wrong"}, {"X-API-Key": ""}):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            error = response.json()["error"]
            assert error["code"] == "unauthorized"
            assert "lsk_wrong" not in response.text


def test_both_configured_keys_are_accepted(client: httpx.Client) -> None:
    for key in (API_KEY, OTHER_KEY):
        assert client.get("/v1/model", headers={"X-API-Key": key}).status_code == 200


def test_docs_and_schema_are_not_served_without_opting_in(client: httpx.Client) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404


def test_health_needs_no_key_and_ready_reports_the_model(
    client: httpx.Client, tiny_bundle: ScoringBundle
) -> None:
    assert client.get("/health/live").json() == {"status": "ok", "model_version": None}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == tiny_bundle.version


def test_api_scores_equal_the_batch_command_on_the_same_leads(
    client: httpx.Client,
    tiny_bundle: ScoringBundle,
    live_leads: LiveLeads,
) -> None:
    from leadscore.models.batch import score_in_chunks

    leads = live_leads.leads.iloc[:40]
    activities = live_leads.activities[live_leads.activities["lead_id"].isin(leads["lead_id"])]
    # `leadscore score`'s own scoring function, in chunks smaller than the set (chunking must not matter).
    expected = score_in_chunks(tiny_bundle, leads, activities, chunk_size=7).set_index("lead_id")
    payloads = lead_payloads(leads, activities)
    batch = client.post("/v1/score/batch", json={"leads": payloads}, headers=AUTH)
    assert batch.status_code == 200, batch.text
    singles = [client.post("/v1/score", json=p, headers=AUTH).json() for p in payloads]  # the one-lead path
    results = batch.json()["results"]
    assert [r["lead_id"] for r in results] == leads["lead_id"].tolist()  # request order
    for result in results + singles:
        row = expected.loc[result["lead_id"]]
        assert result["probability"] == pytest.approx(row["probability"], abs=1e-12, rel=0)
        assert (result["score"], result["band"], result["is_mql"], result["is_sql"]) == (
            row["score"],
            row["band"],
            row["is_mql"],
            row["is_sql"],
        )
        assert result["reasons_positive"] == json.loads(row["reasons_positive"])
        assert result["reasons_negative"] == json.loads(row["reasons_negative"])
        assert result["model_version"] == row["model_version"] == tiny_bundle.version
        assert result["scored_at"].endswith("Z")


def test_pre_aggregated_intent_scores_like_the_activities_it_summarises(
    client: httpx.Client,
    tiny_bundle: ScoringBundle,
    live_leads: LiveLeads,
) -> None:
    leads = live_leads.leads.iloc[:15]
    activities = live_leads.activities[live_leads.activities["lead_id"].isin(leads["lead_id"])]
    frame = feature_frame(leads, activities, tiny_bundle.spec)
    with_activities = lead_payloads(leads, activities)
    with_intent = []
    for payload, (_, features) in zip(lead_payloads(leads, None), frame.iterrows(), strict=True):
        intent = {name: json_value(features[name]) for name in tiny_bundle.spec.intent_feature_names}
        with_intent.append({**payload, "intent": intent})
    a = client.post("/v1/score/batch", json={"leads": with_activities}, headers=AUTH).json()["results"]
    b = client.post("/v1/score/batch", json={"leads": with_intent}, headers=AUTH).json()["results"]
    assert [r["probability"] for r in a] == pytest.approx([r["probability"] for r in b], abs=1e-12)
    mixed = client.post("/v1/score/batch", json={"leads": [with_intent[0], with_activities[1]]}, headers=AUTH)
    expected_order = [with_intent[0]["lead_id"], with_activities[1]["lead_id"]]
    assert [r["lead_id"] for r in mixed.json()["results"]] == expected_order


def test_unknown_intent_feature_is_a_422_naming_it(client: httpx.Client, live_leads: LiveLeads) -> None:
    payload = {**lead_payloads(live_leads.leads.iloc[:1], None)[0], "intent": {"intent_telepathy_7d": 1}}
    response = client.post("/v1/score", json=payload, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "intent.intent_telepathy_7d"


def test_string_for_a_number_is_a_422_naming_the_field(client: httpx.Client, live_leads: LiveLeads) -> None:
    payload = lead_payloads(live_leads.leads.iloc[:2], None)
    payload[1]["employees"] = "250"
    single = client.post("/v1/score", json=payload[1], headers=AUTH)
    assert single.status_code == 422
    assert single.json()["error"] == {
        "code": "validation_error",
        "message": "employees: Input should be a valid number",
        "field": "employees",
    }
    batch = client.post("/v1/score/batch", json={"leads": payload}, headers=AUTH)
    assert batch.json()["error"]["field"] == "leads.1.employees"


@pytest.mark.parametrize(("field", "value"), [("employees", -5), ("founded_year", 1e308)])
def test_implausible_number_is_a_422_naming_the_field(
    client: httpx.Client, live_leads: LiveLeads, field: str, value: float
) -> None:
    payload = lead_payloads(live_leads.leads.iloc[:2], None)
    payload[1][field] = value
    single = client.post("/v1/score", json=payload[1], headers=AUTH)
    assert single.status_code == 422
    assert single.json()["error"]["field"] == field
    batch = client.post("/v1/score/batch", json={"leads": payload}, headers=AUTH)
    assert batch.status_code == 422
    assert batch.json()["error"]["field"] == f"leads.1.{field}"


def test_missing_created_at_is_a_422(client: httpx.Client, live_leads: LiveLeads) -> None:
    payload = lead_payloads(live_leads.leads.iloc[:1], None)[0]
    del payload["created_at"]
    response = client.post("/v1/score", json=payload, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "created_at"


def test_oversized_body_is_413_whether_declared_or_streamed(client: httpx.Client) -> None:
    big = b'{"lead_id": "' + b"x" * 70_000 + b'"}'
    declared = client.post("/v1/score", content=big, headers={**AUTH, "content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count the stream
        for _ in range(20):
            yield b" " * 8192

    json_headers = {**AUTH, "content-type": "application/json"}
    streamed = client.post("/v1/score", content=chunks(), headers=json_headers)
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"


def test_batch_over_the_limit_is_413(client: httpx.Client, live_leads: LiveLeads) -> None:
    payloads = lead_payloads(live_leads.leads.iloc[:51], None)
    response = client.post("/v1/score/batch", json={"leads": payloads}, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "batch_too_large",
        "message": "51 leads in one batch; the limit is 50",
        "field": "leads",
    }


def test_contact_details_are_dropped_before_storage_and_logs(
    client: httpx.Client,
    server: RunningServer,
    service_dir: Path,
    live_leads: LiveLeads,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = {
        **lead_payloads(live_leads.leads.iloc[:1], None)[0],
        "lead_id": "PII-CHECK-1",
        "contact_name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
    }
    with caplog.at_level(logging.DEBUG):
        response = client.post("/v1/score", json=payload, headers=AUTH)
        assert response.status_code == 200
        assert "ada" not in response.text.lower()
        bad = client.post("/v1/score", json={**payload, "employees": "many"}, headers=AUTH)
        assert bad.status_code == 422
        assert "ada@example.com" not in bad.text
        server.app.state.services.writer.flush()
    engine = create_engine(f"sqlite:///{service_dir / 'predictions.db'}")
    with engine.connect() as conn:
        query = text("SELECT * FROM predictions WHERE lead_id = 'PII-CHECK-1'")
        stored = conn.execute(query).mappings().all()
    engine.dispose()
    assert len(stored) == 1
    dumped = json.dumps([dict(r) for r in stored], default=str).lower()
    for secret in ("ada lovelace", "ada@example.com", "7946"):
        assert secret not in dumped
        assert secret not in caplog.text.lower()
    assert stored[0]["api_key_name"] == "tests"  # the key's name, never the key
    assert API_KEY not in dumped
    assert API_KEY not in caplog.text  # nor in any log line, at DEBUG
    assert "firmo_industry" in server.app.state.services.store.recent_features().columns


def test_unexpected_error_is_a_generic_500_with_a_request_id(
    service_dir: Path,
    tiny_bundle_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(service_settings(service_dir / "boom", tiny_bundle_dir))

    def explode() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/v1/explode", explode, methods=["GET"])
    with running_server(app) as running, httpx.Client(base_url=running.base_url) as http:
        response = http.get("/v1/explode", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "req-123" in response.json()["error"]["message"]
    assert response.headers["x-request-id"] == "req-123"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert "secret internal detail" in caplog.text  # logged server side, with the request id
    assert "req-123" in caplog.text


def test_openapi_documents_every_route_with_models_and_error_responses(app: FastAPI) -> None:
    spec = app.openapi()
    for method, path in protected_routes(app):
        operation = spec["paths"][path][method.lower()]
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert "200" in operation["responses"]
        assert "$ref" in json.dumps(operation["responses"]["200"])
        assert "401" in operation["responses"], (method, path)
        schema_ref = operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
        assert schema_ref.endswith("ErrorBody")
        if method == "POST" and path != "/v1/model/reload":
            assert {"413", "422"} <= set(operation["responses"]), (method, path)
        assert operation.get("security") == [{"APIKeyHeader": []}], (method, path)
    for path in ("/health/live", "/health/ready"):
        assert "security" not in spec["paths"][path]["get"]
    assert "503" in spec["paths"]["/health/ready"]["get"]["responses"]


def logged_rows(service_dir: Path, where: str = "1 = 1") -> list[dict]:
    engine = create_engine(f"sqlite:///{service_dir / 'predictions.db'}")
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(text(f"SELECT * FROM predictions WHERE {where}")).mappings()]
    engine.dispose()
    return rows


def test_missing_spec_column_is_a_422_naming_it_and_extras_fill_it(
    tmp_path: Path, extras_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    app = create_app(service_settings(tmp_path, extras_bundle_dir))
    payload = lead_payloads(live_leads.leads.iloc[:1], None)[0]
    with running_server(app) as running, httpx.Client(base_url=running.base_url) as http:
        missing = http.post("/v1/score", json=payload, headers=AUTH)
        assert missing.status_code == 422
        assert missing.json()["error"]["code"] == "unprocessable_lead"
        assert missing.json()["error"]["field"] == "extras.plan"
        assert "xcat_plan" in missing.json()["error"]["message"]
        in_batch = http.post("/v1/score/batch", json={"leads": [payload]}, headers=AUTH)
        assert in_batch.json()["error"]["field"] == "leads.0.extras.plan"
        sent = http.post("/v1/score", json={**payload, "extras": {"plan": "pro"}}, headers=AUTH)
        assert sent.status_code == 200, sent.text
        # The export's own spelling and an unknown value reach the model's column as the pull stage names it.
        for extras in ({"Plan": None}, {"plan": None}, {" PLAN ": "pro"}, {"xcat_plan": "free"}):
            named = http.post("/v1/score", json={**payload, "extras": extras}, headers=AUTH)
            assert named.status_code == 200, (extras, named.text)
        number = http.post("/v1/score", json={**payload, "extras": {"plan": 3}}, headers=AUTH)
        assert number.status_code == 422
        assert number.json()["error"]["field"] == "extras.plan"


def test_a_refused_batch_logs_none_of_its_leads(
    tmp_path: Path, extras_bundle_dir: Path, live_leads: LiveLeads
) -> None:
    # Intent leads are scored first, activity leads second: the second group's refusal must unlog the first.
    app = create_app(service_settings(tmp_path, extras_bundle_dir))
    first, second = lead_payloads(live_leads.leads.iloc[:2], live_leads.activities)
    with running_server(app) as running, httpx.Client(base_url=running.base_url) as http:
        names = ScoringBundle.load(extras_bundle_dir).spec.intent_feature_names
        assert names
        intent_lead = {
            **first,
            "lead_id": "REFUSED-X",
            "activities": None,
            "intent": dict.fromkeys(names, 0),
            "extras": {"plan": "pro"},
        }
        refused = http.post("/v1/score/batch", json={"leads": [intent_lead, second]}, headers=AUTH)
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == "leads.1.extras.plan"
        accepted = http.post(
            "/v1/score/batch",
            json={"leads": [{**intent_lead, "lead_id": "ACCEPTED-X"}, {**second, "extras": {"plan": None}}]},
            headers=AUTH,
        )
        assert accepted.status_code == 200, accepted.text
        running.app.state.services.writer.flush()
    assert logged_rows(tmp_path, "lead_id = 'REFUSED-X'") == []
    assert len(logged_rows(tmp_path, "lead_id = 'ACCEPTED-X'")) == 1


def test_a_repeated_lead_id_is_a_422_naming_the_repeat(client: httpx.Client, live_leads: LiveLeads) -> None:
    x, l1 = lead_payloads(live_leads.leads.iloc[:2], None)
    response = client.post("/v1/score/batch", json={"leads": [x, l1, l1]}, headers=AUTH)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "leads.2.lead_id"
    assert "leads.1.lead_id" in error["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", "9999-12-31T00:00:00Z"),
        ("created_at", "0001-01-01T00:00:00"),
        ("as_of", "9999-12-31T23:59:59-05:00"),
        ("as_of", "0001-01-01T00:00:00+01:00"),
    ],
)
def test_placeholder_dates_are_a_422_naming_the_field_not_a_500(
    client: httpx.Client,
    live_leads: LiveLeads,
    caplog: pytest.LogCaptureFixture,
    field: str,
    value: str,
) -> None:
    [lead] = lead_payloads(live_leads.leads.iloc[:1], None)
    [with_events] = lead_payloads(live_leads.leads.iloc[1:2], live_leads.activities)
    single = client.post("/v1/score", json={**lead, field: value}, headers=AUTH)
    assert single.status_code == 422, single.text
    assert single.json()["error"]["field"] == field
    event = {"occurred_at": value, "activity_type": "web_visit"}
    batch = client.post(
        "/v1/score/batch", json={"leads": [lead, {**with_events, "activities": [event]}]}, headers=AUTH
    )
    assert batch.status_code == 422, batch.text
    assert batch.json()["error"]["field"] == "leads.1.activities.0.occurred_at"
    assert "Traceback" not in caplog.text


def test_drift_defaults_to_the_serving_models_own_scores(
    client: httpx.Client, server: RunningServer, service_dir: Path, live_leads: LiveLeads
) -> None:
    from datetime import datetime

    from leadscore.serving.store import PredictionRow

    payloads = lead_payloads(live_leads.leads.iloc[:30], live_leads.activities)
    scored = client.post("/v1/score/batch", json={"leads": payloads}, headers=AUTH)
    assert scored.status_code == 200
    version = scored.json()["model_version"]
    store = server.app.state.services.store
    older = [
        PredictionRow(
            lead_id=f"OLD-{i}",
            model_version="an-older-model",
            features_hash="0" * 16,
            probability=0.5,
            score=50,
            band="C",
            scored_at=datetime.now(),
            request_id="-",
            api_key_name="tests",
            features={"firmo_industry": "retired-feature-encoding"},
        )
        for i in range(25)
    ]
    store.insert_predictions(older)
    server.app.state.services.writer.flush()
    own = len(logged_rows(service_dir, f"model_version = '{version}'"))
    drift = client.get("/v1/drift", headers=AUTH).json()
    assert drift["model_version"] == version
    assert drift["n_current"] == own  # not own + 25
    explicit = client.get("/v1/drift", params={"model_version": "an-older-model"}, headers=AUTH).json()
    assert explicit["n_current"] == 25
