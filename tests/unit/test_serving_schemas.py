"""Request schemas: strict types (no coercion), field names in errors, PII dropped, timestamps in UTC."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from serving.errors import install_error_handlers
from serving.schemas import BatchScoreRequest, LeadIn, OutcomesRequest

LEAD = {
    "lead_id": "L-1",
    "created_at": "2025-03-01T09:30:00+02:00",
    "industry": "software",
    "employees": 250,
    "annual_revenue": 1.5e7,
    "country": "DE",
    "contact_title": "VP Sales",
    "email": "jane@example.com",
    "contact_name": "Jane Doe",
    "phone": "+49 30 1234567",
    "activities": [{"occurred_at": "2025-03-02T10:00:00Z", "activity_type": "demo_request"}],
}


def error_locs(exc: ValidationError) -> list[tuple]:
    return [tuple(e["loc"]) for e in exc.errors()]


def test_string_for_a_number_is_rejected_not_coerced() -> None:
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, "employees": "250"})
    assert ("employees",) in error_locs(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("employees", True),
        ("industry", 5),
        ("created_at", 1700000000),
        ("lead_id", 17),
        ("employees", float("nan")),
    ],
)
def test_wrong_types_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, field: value})
    assert error_locs(info.value)[0][0] == field


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, "industy": "typo"})
    assert ("industy",) in error_locs(info.value)


def test_timestamps_become_naive_utc_and_pii_never_reaches_the_record() -> None:
    lead = LeadIn.model_validate(LEAD)
    assert lead.created_at == datetime(2025, 3, 1, 7, 30)
    record = lead.to_record()
    assert record["created_at"] == datetime(2025, 3, 1, 7, 30)
    assert record["employees"] == 250.0
    for pii in ("email", "contact_name", "phone"):
        assert pii not in record
        assert pii not in lead.model_dump()
    assert "jane" not in lead.model_dump_json().lower()


def test_extras_map_to_prefixed_columns_and_intent_to_feature_columns() -> None:
    lead = LeadIn.model_validate(
        {
            **LEAD,
            "activities": None,
            "extras": {"plan": "pro", "seats": 12, "xnum_score": 1.0, "Email": "x@y.z"},
            "intent": {"intent_web_visit_7d": 3},
        }
    )
    record = lead.to_record()
    assert record["xcat_plan"] == "pro"
    assert record["xnum_seats"] == 12
    assert record["xnum_score"] == 1.0
    assert not any("mail" in key.lower() for key in record)
    assert record["intent_web_visit_7d"] == 3


def test_activities_and_intent_together_are_rejected() -> None:
    with pytest.raises(ValidationError, match="not both"):
        LeadIn.model_validate({**LEAD, "intent": {"intent_web_visit_7d": 1}})


def test_negative_intent_count_and_bad_outcome_are_rejected() -> None:
    with pytest.raises(ValidationError):
        LeadIn.model_validate({**LEAD, "activities": None, "intent": {"intent_web_visit_7d": -1}})
    with pytest.raises(ValidationError) as info:
        OutcomesRequest.model_validate(
            {"outcomes": [{"lead_id": "a", "outcome": "maybe", "closed_at": "2025-01-01"}]}
        )
    assert error_locs(info.value)[0] == ("outcomes", 0, "outcome")
    with pytest.raises(ValidationError):
        BatchScoreRequest.model_validate({"leads": []})


def test_validation_error_body_is_uniform_names_the_field_and_hides_the_input() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    def echo(body: BatchScoreRequest) -> dict:
        return {"n": len(body.leads)}

    bad = {"leads": [LEAD, {**LEAD, "employees": "250", "email": "secret@example.com"}]}

    async def exchange() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # the app in process, through its real ASGI interface
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/echo", json=bad)
            broken = await client.post(
                "/echo", content=b"{not json", headers={"content-type": "application/json"}
            )
        return response, broken

    response, broken = asyncio.run(exchange())
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["field"] == "leads.1.employees"
    assert "leads.1.employees" in body["error"]["message"]
    assert "secret@example.com" not in response.text
    assert broken.status_code == 422
    assert "not valid JSON" in broken.json()["error"]["message"]
