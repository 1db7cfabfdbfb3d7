"""Outcomes, realized/estimated accuracy and drift through a real uvicorn, checked against direct computation.

The tiny bundle scores its out-of-time test leads through the API; their simulated outcomes are posted for two
thirds of them. The endpoints must then report exactly what the monitoring library computes on the same
numbers, and the drift endpoint must see the same raw features as ``build_features`` on the same leads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from leadscore.models.bundle import ScoringBundle
from leadscore.monitoring.cbpe import expected_auc
from leadscore.monitoring.drift import DEFAULT_EXCLUDE, DriftMonitor
from leadscore.monitoring.metrics import brier_score, decile_table, roc_auc
from leadscore.serving.app import create_app
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    API_KEY,
    LiveLeads,
    feature_frame,
    lead_payloads,
    live_leads_fixture,
    running_server,
    service_settings,
    tiny_bundle_dir_fixture,
    tiny_bundle_fixture,
)

AUTH = {"X-API-Key": API_KEY}


@dataclass(frozen=True)
class Scenario:
    client: httpx.Client
    scored: pd.DataFrame  # bundle.score on the same leads (the expected numbers)
    labelled: pd.DataFrame  # the leads whose outcomes were posted
    still_open: pd.DataFrame
    outcomes: list[dict[str, str]]
    live: LiveLeads


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_bundle_dir: Path,
    tiny_bundle: ScoringBundle,
    live_leads: LiveLeads,
) -> Iterator[Scenario]:
    settings = service_settings(tmp_path_factory.mktemp("monitoring"), tiny_bundle_dir, max_batch_size=200)
    leads, activities = live_leads.leads, live_leads.activities
    scored = tiny_bundle.score(leads, activities)
    scored["label"] = leads["label"].to_numpy()
    payloads = lead_payloads(leads, activities)
    with (
        running_server(create_app(settings)) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as client,
    ):
        for start in range(0, len(payloads), 200):
            response = client.post(
                "/v1/score/batch", json={"leads": payloads[start : start + 200]}, headers=AUTH
            )
            assert response.status_code == 200, response.text
        # Outcomes arrive after the scores: close them a minute from now.
        closed_at = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        cut = 2 * len(scored) // 3
        labelled, still_open = scored.iloc[:cut], scored.iloc[cut:]
        outcomes = [
            {"lead_id": lead_id, "outcome": "won" if label == 1 else "lost", "closed_at": closed_at}
            for lead_id, label in zip(labelled["lead_id"], labelled["label"], strict=True)
        ]
        response = client.post("/v1/outcomes", json={"outcomes": outcomes}, headers=AUTH)
        assert response.status_code == 200, response.text
        assert response.json()["inserted"] == len(outcomes)
        yield Scenario(client, scored, labelled, still_open, outcomes, live_leads)


def test_realized_accuracy_matches_the_metrics_on_the_same_scores(scenario: Scenario) -> None:
    body = scenario.client.get("/v1/accuracy", headers=AUTH).json()
    realized = body["realized"]
    y = scenario.labelled["label"].to_numpy(dtype=float)
    p = scenario.labelled["probability"].to_numpy()
    assert realized["status"] == "ok"
    assert realized["n"] == len(y)
    assert realized["n_won"] == int(y.sum())
    assert realized["auc"] == pytest.approx(roc_auc(y, p), abs=1e-12)
    assert realized["brier"] == pytest.approx(brier_score(y, p), abs=1e-12)
    assert realized["base_rate"] == pytest.approx(y.mean())
    deciles = decile_table(y, p)
    assert [d["n"] for d in realized["lift_by_decile"]] == deciles["n"].tolist()
    assert [d["lift"] for d in realized["lift_by_decile"]] == pytest.approx(deciles["lift"].tolist())
    by_band = scenario.labelled.groupby("band")["label"].agg(["size", "sum"])
    assert {b["band"]: (b["n"], b["won"]) for b in realized["calibration_by_band"]} == {
        band: (int(row["size"]), int(row["sum"])) for band, row in by_band.iterrows()
    }
    low, high = (
        realized["expected_if_calibrated"]["auc"]["low"],
        realized["expected_if_calibrated"]["auc"]["high"],
    )
    assert low < high
    assert body["scored_leads"] == len(scenario.scored)


def test_estimated_accuracy_of_open_leads_is_the_cbpe_expectation(scenario: Scenario) -> None:
    estimated = scenario.client.get("/v1/accuracy", headers=AUTH).json()["estimated"]
    p_open = scenario.still_open["probability"].to_numpy()
    assert estimated["status"] == "ok"
    assert estimated["n_open"] == len(p_open)
    assert estimated["expected_conversions"] == pytest.approx(p_open.sum())
    assert estimated["expected_auc"] == pytest.approx(expected_auc(p_open))


def test_accuracy_window_and_model_filter_give_explicit_empty_states(scenario: Scenario) -> None:
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    body = scenario.client.get("/v1/accuracy", params={"start": future}, headers=AUTH).json()
    assert body["realized"]["status"] == "not_enough_outcomes"
    assert body["realized"]["auc"] is None
    assert body["estimated"]["status"] == "not_enough_open_leads"
    other = scenario.client.get("/v1/accuracy", params={"model_version": "nope"}, headers=AUTH).json()
    assert other["scored_leads"] == 0
    inverted = scenario.client.get(
        "/v1/accuracy", params={"start": future, "end": "2020-01-01"}, headers=AUTH
    )
    assert inverted.status_code == 422
    assert inverted.json()["error"]["field"] == "end"


def test_reposting_outcomes_is_a_no_op_and_changes_update(scenario: Scenario) -> None:
    client = scenario.client
    again = client.post("/v1/outcomes", json={"outcomes": scenario.outcomes}, headers=AUTH).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, len(scenario.outcomes))
    first = scenario.outcomes[0]
    flipped = {**first, "outcome": "lost" if first["outcome"] == "won" else "won"}
    changed = client.post(
        "/v1/outcomes", json={"outcomes": [flipped, {**first, "lead_id": "NEVER-SCORED"}]}, headers=AUTH
    ).json()
    assert (changed["inserted"], changed["updated"], changed["unchanged"]) == (0, 1, 0)
    assert changed["unknown_lead_ids"] == ["NEVER-SCORED"]
    n_won = client.get("/v1/accuracy", headers=AUTH).json()["realized"]["n_won"]
    expected_won = int(scenario.labelled["label"].sum()) + (1 if flipped["outcome"] == "won" else -1)
    assert n_won == expected_won
    client.post("/v1/outcomes", json={"outcomes": [first]}, headers=AUTH)  # restore for the other tests


def test_drift_matches_the_monitor_on_the_same_features(
    scenario: Scenario, tiny_bundle: ScoringBundle
) -> None:
    body = scenario.client.get("/v1/drift", headers=AUTH).json()
    assert body["status"] == "ok"
    assert body["n_current"] == len(scenario.scored)
    live = scenario.live
    current = feature_frame(live.leads, live.activities, tiny_bundle.spec)
    current["probability"] = scenario.scored["probability"].to_numpy()
    monitored = [
        name
        for name in tiny_bundle.feature_names
        if name in tiny_bundle.reference.columns and name not in DEFAULT_EXCLUDE
    ]
    expected = DriftMonitor(monitored).fit(tiny_bundle.reference).calculate(current)
    got = {f["feature"]: f for f in body["features"]}
    assert set(got) == set(monitored)
    for row in expected.features.itertuples(index=False):
        assert got[row.feature]["psi"] == pytest.approx(row.psi, abs=1e-9), row.feature
        assert got[row.feature]["drifted"] == row.drifted
    assert body["score"]["psi"] == pytest.approx(expected.score["psi"], abs=1e-9)
    assert body["dataset_drift"] == expected.dataset_drift
    assert body["verdict"] == ("drift" if expected.dataset_drift else "stable")
    assert body["thresholds"]["psi_act"] == 0.25
    assert body["unavailable_features"] == []
    assert not np.isnan(body["n_reference"])


def test_drift_with_too_few_predictions_says_so(scenario: Scenario) -> None:
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    body = scenario.client.get("/v1/drift", params={"start": future}, headers=AUTH).json()
    assert body["status"] == "not_enough_predictions"
    assert body["verdict"] == "unknown"
    assert body["n_current"] == 0
