"""The quarterly report from the prediction log: the ``leadscore report`` command and GET /v1/report.

A real SQLite prediction log is filled through ``PredictionStore`` with calibrated synthetic scores over three
quarters and the outcomes of the matured ones; a few leads are scored again *after* they closed with an absurd
probability, which the report must ignore (a score made after the close could have seen the outcome). Both
the command and the authenticated route must then report exactly the AUC computed directly on the scores.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from leadscore.cli.main import main as cli_main
from leadscore.monitoring.metrics import roc_auc
from leadscore.serving.app import create_app
from leadscore.serving.routes.report import QuarterlyReportDocument
from leadscore.serving.store import OutcomeRecord, PredictionRow, PredictionStore
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    API_KEY,
    running_server,
    service_settings,
    tiny_bundle_dir_fixture,
)

INDUSTRIES = ["Software", "Retail", "Healthcare"]


def _log(path: Path, n: int = 3000, seed: int = 4) -> pd.DataFrame:
    """Fill a prediction log at ``path``; returns the truth (one row per lead, its pre-close score)."""
    rng = np.random.default_rng(seed)
    scored_at = (pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.uniform(0, 272, n), unit="D")).floor("s")
    p = rng.beta(1.3, 6.0, n)
    label = (rng.random(n) < p).astype(int)
    band = np.select([p >= 0.35, p >= 0.2, p >= 0.1], ["A", "B", "C"], "D")
    industry = rng.choice(INDUSTRIES, n)
    truth = pd.DataFrame(
        {"lead_id": [f"L{i}" for i in range(n)], "scored_at": scored_at, "probability": p, "label": label}
    )
    truth["band"], truth["industry"] = band, industry
    truth["closed_at"] = truth["scored_at"] + pd.to_timedelta(30, unit="D")
    truth["has_outcome"] = truth["scored_at"] < pd.Timestamp("2025-07-01")

    def row(lead: pd.Series, at: pd.Timestamp, prob: float) -> PredictionRow:
        return PredictionRow(
            lead_id=lead.lead_id,
            model_version="v-test",
            features_hash=None,
            probability=float(prob),
            score=round(100 * prob),
            band=lead.band,
            scored_at=at.to_pydatetime(),
            request_id=None,
            api_key_name="tests",
            features={"firmo_industry": lead.industry, "firmo_size_band": 2.0, "firmo_region": "EMEA"},
        )

    rows = [row(lead, lead.scored_at, lead.probability) for lead in truth.itertuples()]
    # Scores made after the close must not count: 0.99 for losers and 0.01 for winners would wreck the AUC.
    late = truth[truth["has_outcome"]].head(200)
    rows += [
        row(lead, lead.closed_at + timedelta(days=1), 0.01 if lead.label else 0.99)
        for lead in late.itertuples()
    ]
    store = PredictionStore.open(f"sqlite:///{path}")
    try:
        store.insert_predictions(rows)
        closed = truth[truth["has_outcome"]]
        store.upsert_outcomes(
            OutcomeRecord(r.lead_id, "won" if r.label else "lost", r.closed_at.to_pydatetime())
            for r in closed.itertuples()
        )
    finally:
        store.close()
    return truth


@pytest.fixture(scope="module")
def prediction_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("log") / "predictions.db"
    return path, _log(path)


def _expected_q2_auc(truth: pd.DataFrame) -> float:
    q2 = truth[(truth["scored_at"].dt.to_period("Q") == pd.Period("2025Q2")) & truth["has_outcome"]]
    return roc_auc(q2["label"].to_numpy(), q2["probability"].to_numpy())


def test_report_command_reads_the_prediction_log(
    prediction_log: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = prediction_log
    args = ["report", "--quarter", "2025Q3", "--database-url", f"sqlite:///{path}", "--out", str(tmp_path)]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out.split()
    payload = json.loads(Path(printed[1]).read_text())
    assert Path(printed[0]).suffix == ".html"
    assert payload["source"].startswith("prediction log sqlite:///")
    in_q3 = truth["scored_at"].dt.to_period("Q") == pd.Period("2025Q3")
    assert payload["kpis"]["leads_scored"] == int(in_q3.sum())
    assert payload["realized"]["cohort"] == "2025Q2"
    assert payload["realized"]["metrics"]["auc"] == pytest.approx(_expected_q2_auc(truth), abs=1e-12)
    # MQL = band B or better (params defaults), segments from the logged features, size band as a label.
    assert payload["kpis"]["qualification_rate"] == pytest.approx(
        truth.loc[in_q3, "band"].isin(["A", "B"]).mean()
    )
    assert {"industry", "region", "size_band"} <= set(payload["segments"])
    assert payload["segments"]["size_band"][0]["segment"] == "50-200"


def test_report_command_on_an_empty_log_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PredictionStore.open(f"sqlite:///{tmp_path / 'empty.db'}").close()
    code = cli_main(["report", "--quarter", "2025Q3", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        f"leadscore report: error: the prediction log at sqlite:///{tmp_path / 'empty.db'} has no score for "
        "2025Q3 or before"
    )


@pytest.mark.parametrize("quarter", ["9999Q4", "0001Q1"])
def test_report_command_on_a_quarter_outside_crm_history_is_one_line(
    quarter: str, prediction_log: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = prediction_log
    assert cli_main(["report", "--quarter", quarter, "--database-url", f"sqlite:///{path}"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (f"leadscore report: error: quarter '{quarter}': the year must be within 1900-2200")


def test_report_command_without_a_prediction_log_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    assert cli_main(["report", "--quarter", "2026Q3", "--database-url", f"sqlite:///{missing}"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"leadscore report: error: no prediction log at {missing} (start the service")
    assert not missing.exists()  # nothing created as a side effect


def test_report_route_serves_the_same_report_as_json_and_html(
    prediction_log: tuple[Path, pd.DataFrame], tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    path, truth = prediction_log
    shutil.copy(path, tmp_path / "predictions.db")  # service_settings points the service at this file
    settings = service_settings(tmp_path, tiny_bundle_dir)
    with (
        running_server(create_app(settings)) as server,
        httpx.Client(base_url=server.base_url, timeout=120.0) as client,
    ):
        assert client.get("/v1/report", params={"quarter": "2025Q3"}).status_code == 401
        wrong = client.get("/v1/report", params={"quarter": "2025Q3"}, headers={"X-API-Key": "lsk_wrong"})
        assert wrong.status_code == 401
        auth = {"X-API-Key": API_KEY}
        for quarter in ("Q9-25", "9999Q4", "0001Q1"):
            bad = client.get("/v1/report", params={"quarter": quarter}, headers=auth)
            assert bad.status_code == 422, (quarter, bad.text)
            assert bad.json()["error"]["field"] == "quarter"
        response = client.get("/v1/report", params={"quarter": "2025Q3"}, headers=auth)
        assert response.status_code == 200, response.text
        payload = response.json()
        QuarterlyReportDocument.model_validate(payload)  # the documented schema is what is served
        assert payload["realized"]["metrics"]["auc"] == pytest.approx(_expected_q2_auc(truth), abs=1e-12)
        assert payload["drift"]["vs_reference"]["baseline"] == "reference"
        page = client.get("/v1/report", params={"quarter": "2025Q3", "format": "html"}, headers=auth)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.text.startswith("<!DOCTYPE html>")
        assert "Lead-scoring model review: 2025Q3" in page.text


def test_report_command_reads_the_services_database_setting(
    prediction_log: tuple[Path, pd.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ = prediction_log
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{path}")
    assert cli_main(["report", "--quarter", "2025Q3", "--out", str(tmp_path)]) == 0
    payload = json.loads(Path(capsys.readouterr().out.split()[1]).read_text())
    assert payload["source"].startswith(f"prediction log sqlite:///{path}")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "mysql://report:s3cret@db.internal/leads",
            "backend 'mysql' is not supported (sqlite or postgresql)",
        ),
        ("report:s3cret@db.internal", "is not a SQLAlchemy URL (e.g. sqlite:///predictions.db)"),
    ],
)
def test_report_command_checks_the_database_url_naming_the_option_without_echoing_the_password(
    url: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["report", "--quarter", "2025Q3", "--database-url", url]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"leadscore report: error: --database-url: {problem}"
    assert "s3cret" not in last


def test_an_explicit_database_url_is_not_stopped_by_the_services_other_settings(
    prediction_log: tuple[Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report reads the log only: a model URI the service could not load is none of its business."""
    path, _ = prediction_log
    monkeypatch.setenv("LEADSCORE_MODEL_URI", str(tmp_path / "nonexistent"))
    out = tmp_path / "report"
    assert (
        cli_main(["report", "--quarter", "2025Q3", "--database-url", f"sqlite:///{path}", "--out", str(out)])
        == 0
    )
    assert [p.suffix for p in sorted(out.iterdir())] == [".html", ".json"]
