"""The documented batch flow: ``leadscore simulate`` export -> ``leadscore score`` -> ``leadscore report``.

``leadscore score`` writes scores only (lead_id, probability, band, is_mql, is_sql, model_version): no time
and no outcome. ``leadscore report --scored scores.csv --outcomes leads.csv`` joins the export it was scored
from on lead_id for each lead's created_at (its cohort), status and closed_at. The realized AUC must be
exactly the one computed directly on the leads that had matured and closed by the report's as_of moment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from leadscore.cli.main import main as cli_main
from leadscore.core.params import ReportParams
from leadscore.crm.simulator import write_export
from leadscore.monitoring.metrics import roc_auc
from tests.registry_fixtures import TinyWorld, tiny_world_fixture  # noqa: F401 - fixtures


def score_the_export(tiny_world: TinyWorld, tmp_path: Path) -> tuple[Path, Path]:
    """The simulated export as CSV files and its `leadscore score` scores: (export dir, scores file)."""
    export = tmp_path / "export"
    write_export(tiny_world.export, export, file_format="csv")
    scores = tmp_path / "scores.csv"
    bundle = str(tiny_world.bundles["good"])
    argv = ["score", str(export / "leads.csv"), "-o", str(scores), "--model", bundle, "--no-reasons"]
    assert cli_main([*argv, "--activities", str(export / "activities.csv")]) == 0
    return export, scores


def test_scores_of_leadscore_score_with_their_export_make_the_report(
    tiny_world: TinyWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, scores = score_the_export(tiny_world, tmp_path)

    leads = pd.read_csv(export / "leads.csv", dtype={"lead_id": str}, parse_dates=["created_at", "closed_at"])
    quarter = leads["created_at"].max().to_period("Q") - 1  # the last complete quarter
    as_of = quarter.end_time.floor("s")
    capsys.readouterr()
    out = tmp_path / "report"
    code = cli_main(
        [
            "report",
            "--quarter",
            str(quarter),
            "--scored",
            str(scores),
            "--outcomes",
            str(export / "leads.csv"),
            "--as-of",
            str(as_of),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    html, written = (Path(p) for p in capsys.readouterr().out.split())
    assert html.read_text().lstrip().lower().startswith("<!doctype html")
    payload = json.loads(written.read_text())
    assert payload["source"] == "batch-scored file scores.csv joined with the outcomes of leads.csv"
    cohort = leads["created_at"].dt.to_period("Q")
    assert payload["kpis"]["leads_scored"] == int((cohort == quarter).sum())
    assert "industry" in payload["segments"]

    # Realized: leads of the realized cohort created maturity_days before as_of and closed won/lost by then.
    realized = payload["realized"]
    assert realized is not None
    maturity = pd.Timedelta(days=ReportParams().maturity_days)
    known = (
        (cohort == pd.Period(realized["cohort"], freq="Q"))
        & (leads["created_at"] <= as_of - maturity)
        & leads["status"].isin(["won", "lost"])
        & (leads["closed_at"] <= as_of)
    )
    assert realized["n"] == int(known.sum())
    # Some of them closed only after as_of: counting those would be the look-ahead the report must avoid.
    in_cohort = cohort == pd.Period(realized["cohort"], freq="Q")
    assert (in_cohort & leads["status"].isin(["won", "lost"]) & (leads["closed_at"] > as_of)).any()
    truth = leads.loc[known, ["lead_id", "status"]].merge(
        pd.read_csv(scores, dtype={"lead_id": str}), on="lead_id"
    )
    expected = roc_auc((truth["status"] == "won").to_numpy(float), truth["probability"].to_numpy())
    assert realized["metrics"]["auc"] == pytest.approx(expected, abs=1e-12)


def test_scores_without_a_time_or_an_export_are_one_readable_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = tmp_path / "scores.csv"
    pd.DataFrame({"lead_id": ["a", "b"], "probability": [0.2, 0.4]}).to_csv(scores, index=False)
    assert cli_main(["report", "--quarter", "2025Q1", "--scored", str(scores)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        f"leadscore report: error: {scores} has no scored_at or created_at column: pass the CRM export it "
        "was scored from with --outcomes (lead_id, created_at, status, closed_at)"
    )


def test_outcomes_in_the_exports_own_column_names_are_read_through_the_training_mapping(
    tiny_world: TinyWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    export, scores = score_the_export(tiny_world, tmp_path)
    leads = pd.read_csv(export / "leads.csv", dtype={"lead_id": str})
    names = {"lead_id": "Id", "created_at": "CreatedDate", "closed_at": "ClosedDate", "status": "StageName"}
    crm = leads.rename(columns={**names, "industry": "Industry"})
    crm["StageName"] = crm["StageName"].map({"won": "Closed Won", "lost": "Closed Lost", "open": "Open"})
    crm.to_csv(tmp_path / "crm.csv", index=False)
    params = {
        "source": {
            "mapping": {**names, "firmographic": {"industry": "Industry"}, "pii": []},
            "label": {"won_values": ["Closed Won"], "lost_values": ["Closed Lost"], "open_values": ["Open"]},
        }
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    quarter = pd.to_datetime(leads["created_at"]).max().to_period("Q") - 1
    common = [
        "report",
        "--quarter",
        str(quarter),
        "--scored",
        str(scores),
        "--as-of",
        str(quarter.end_time.floor("s")),
    ]
    capsys.readouterr()
    assert cli_main([*common, "--outcomes", str(export / "leads.csv"), "--out", str(tmp_path / "a")]) == 0
    canonical_json = Path(capsys.readouterr().out.split()[1])
    crm_argv = ["--outcomes", str(tmp_path / "crm.csv"), "--params", str(tmp_path / "params.yaml")]
    assert cli_main([*common, *crm_argv, "--out", str(tmp_path / "b")]) == 0
    crm_json = Path(capsys.readouterr().out.split()[1])
    expected, actual = json.loads(canonical_json.read_text()), json.loads(crm_json.read_text())
    assert actual["realized"]["n"] == expected["realized"]["n"] > 0
    assert actual["realized"]["metrics"]["auc"] == pytest.approx(
        expected["realized"]["metrics"]["auc"], abs=1e-12
    )
    assert actual["kpis"]["leads_scored"] == expected["kpis"]["leads_scored"]
