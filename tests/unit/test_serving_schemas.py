"""Request schemas: strict types (no coercion), field names in errors, PII dropped, timestamps in UTC."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from leadscore.core import canonical
from leadscore.core.params import Mapping
from leadscore.crm.mapping import extra_column_names
from leadscore.features.spec import FeatureSpec
from leadscore.serving.errors import ApiError, install_error_handlers
from leadscore.serving.extras import ExtraColumns, extra_columns, resolve_extras
from leadscore.serving.schemas import BatchScoreRequest, LeadIn, OutcomesRequest

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
        ("lead_id", " "),
        ("lead_id", "\u00a0"),
        ("employees", float("nan")),
    ],
)
def test_wrong_types_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, field: value})
    assert error_locs(info.value)[0][0] == field


@pytest.mark.parametrize(
    ("field", "value"),
    [("employees", -5), ("annual_revenue", -0.01), ("founded_year", 1e308), ("founded_year", 1066)],
)
def test_numbers_the_training_gate_rejects_are_rejected_naming_the_field(field: str, value: float) -> None:
    low, high = canonical.NUMERIC_RANGES[field]
    assert (low is not None and value < low) or (high is not None and value > high)  # the gate's own table
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, field: value})
    assert error_locs(info.value) == [(field,)]
    edge = low if low is not None else high  # the bound itself is plausible
    assert LeadIn.model_validate({**LEAD, field: edge}).model_dump()[field] == edge


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


def extras_record(extras: dict, columns: ExtraColumns, **lead: object) -> dict:
    body = LeadIn.model_validate({**LEAD, "activities": None, "extras": extras, **lead})
    return body.to_record(resolve_extras(body.extras, columns))


def test_extras_take_the_pull_stages_names_and_intent_the_feature_columns() -> None:
    # The model's extra columns as the pull stage named them from the export's own column names.
    mapping = Mapping(extra_categorical=["Lead Quality", "plan"], extra_numeric=["Seats", "score"])
    named = extra_column_names(mapping)
    spec = FeatureSpec(
        roles=("industry",),
        extra_categorical=(named["Lead Quality"], named["plan"]),
        extra_numeric=(named["Seats"], named["score"]),
    )
    columns = extra_columns(spec.extra_categorical, spec.extra_numeric)
    record = extras_record(
        {"Lead Quality": "High", "plan": None, "Seats": 12, "xnum_score": 1.0, "Email": "x@y.z", "unused": 3},
        columns,
        intent={"intent_web_visit_7d": 3},
    )
    assert record["xcat_lead_quality"] == "High"  # not xcat_Lead Quality
    assert record["xcat_plan"] is None  # a null is the model's categorical column, not xnum_plan
    assert record["xnum_seats"] == 12
    assert record["xnum_score"] == 1.0
    assert "unused" not in str(record)  # extras the model does not use are dropped
    assert not any("mail" in key.lower() for key in record)
    assert record["intent_web_visit_7d"] == 3
    assert {k for k in record if k.startswith(("xcat_", "xnum_"))} == set(named.values())


@pytest.mark.parametrize(
    ("extras", "field", "code"),
    [
        ({}, "extras.plan", "unprocessable_lead"),  # the model needs it
        ({"plan": 3}, "extras.plan", "validation_error"),  # a number for a text column
        ({"plan": "pro", "Plan": "free"}, "extras.Plan", "validation_error"),  # two names, one column
    ],
)
def test_bad_extras_are_a_422_naming_the_extra(extras: dict, field: str, code: str) -> None:
    columns = extra_columns(("xcat_plan",), ())
    with pytest.raises(ApiError) as info:
        extras_record(extras, columns)
    assert (info.value.status_code, info.value.code, info.value.field) == (422, code, field)
    with pytest.raises(ApiError) as info:
        resolve_extras(extras, columns, index=4)
    assert info.value.field == f"leads.4.{field}"


@pytest.mark.parametrize("field", ["created_at", "as_of"])
@pytest.mark.parametrize("value", ["9999-12-31T00:00:00Z", "0001-01-01", "9999-12-31T23:00:00-05:00"])
def test_timestamps_outside_plausible_years_name_the_field(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, field: value})
    assert error_locs(info.value) == [(field,)]
    activity = {"occurred_at": value, "activity_type": "web_visit"}
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, "activities": [activity]})
    assert error_locs(info.value) == [("activities", 0, "occurred_at")]


@pytest.mark.parametrize("bad", ["\u0000", "L\u00001", "L\u001f1", "L\u007f1", "L\u00851"])
@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        (lambda v: {"lead_id": v}, ("lead_id",)),
        (
            lambda v: {"activities": [{"occurred_at": "2025-03-02T10:00:00Z", "activity_type": v}]},
            ("activities", 0, "activity_type"),
        ),
        (lambda v: {"activities": None, "intent": {f"intent_{v}": 1.0}}, ("intent",)),
        (lambda v: {"extras": {f"Plan{v}": "pro"}}, ("extras",)),
    ],
)
def test_control_characters_in_ids_and_names_are_rejected_naming_the_field(bad: str, patch, loc) -> None:
    """PostgreSQL refuses a NUL in text; a scored row it refuses used to stall the prediction log for good."""
    with pytest.raises(ValidationError) as info:
        LeadIn.model_validate({**LEAD, **patch(bad)})
    assert error_locs(info.value)[0][: len(loc)] == loc
    assert "control characters" in info.value.errors()[0]["msg"]


def test_free_text_takes_tabs_and_line_breaks_but_no_nul() -> None:
    assert (
        LeadIn.model_validate({**LEAD, "need": "CRM\tmigration\r\nby Q3"}).need == "CRM\tmigration\r\nby Q3"
    )
    for field, value in (("industry", "soft\u0000ware"), ("extras", {"plan": "pro\u0000"})):
        with pytest.raises(ValidationError) as info:
            LeadIn.model_validate({**LEAD, field: value})
        assert error_locs(info.value)[0][0] == field


def test_lead_ids_are_stripped_alike_for_scores_and_outcomes() -> None:
    """The feature code strips ids, so " L1 " is scored and logged as L1: its outcome must be stored as L1."""
    assert LeadIn.model_validate({**LEAD, "lead_id": " L1 "}).lead_id == "L1"
    outcome = {"lead_id": "\tL1\n", "outcome": "won", "closed_at": "2025-04-01T00:00:00Z"}
    assert OutcomesRequest.model_validate({"outcomes": [outcome]}).outcomes[0].lead_id == "L1"
    with pytest.raises(ValidationError) as info:
        OutcomesRequest.model_validate({"outcomes": [{**outcome, "lead_id": "L\u00001"}]})
    assert error_locs(info.value) == [("outcomes", 0, "lead_id")]


@pytest.mark.parametrize("repeat", ["L1", " L1 "])
def test_a_repeated_lead_id_in_a_batch_names_the_repeat(repeat: str) -> None:
    leads = [{**LEAD, "activities": None, "lead_id": lead_id} for lead_id in ("X", "L1", repeat)]
    with pytest.raises(ValidationError) as info:
        BatchScoreRequest.model_validate({"leads": leads})
    assert error_locs(info.value) == [("leads", 2, "lead_id")]
    assert "leads.1.lead_id" in info.value.errors()[0]["msg"]


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
