"""The `pull` stage entry point on a temporary project directory."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from leadscore.core import canonical
from leadscore.pipelines import pull

REPO = Path(__file__).resolve().parents[2]


def write_params(directory: Path, **source_changes: object) -> dict[str, object]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulate"].update({"n_leads": 2000, "days": 730})
    params["source"].update(source_changes)
    (directory / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def test_pull_writes_canonical_leads_activities_and_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    pull.main()
    leads = pd.read_parquet("data/interim/leads.parquet")
    activities = pd.read_parquet("data/interim/activities.parquet")
    summary = json.loads(Path("data/interim/pull_summary.json").read_text())
    assert summary["leads"]["rows_out"] == len(leads) > 1500
    assert summary["leads"]["dropped_immature"] > 0
    assert set(leads[canonical.OUTCOME]) <= {canonical.OUTCOME_WON, canonical.OUTCOME_LOST}
    assert set(leads[canonical.LABEL]) == {0, 1}
    assert 0.10 < summary["base_rate"] < 0.25
    assert not set(canonical.PII_COLUMNS) & set(leads.columns)
    # Only the leads that survive the label policy keep their activities.
    assert set(activities[canonical.ACTIVITY_LEAD_ID]) <= set(leads[canonical.LEAD_ID])
    assert activities[canonical.ACTIVITY_AT].dtype.kind == "M"
    youngest = leads[canonical.CREATED_AT].max()
    assert youngest < pd.Timestamp("2023-01-01") + pd.Timedelta(days=730 - 90)
    # A simulated CRM has its own clock: its export time is the pull time (maturity reference, gate bound).
    assert (
        summary["pulled_at"] == "2024-12-31T00:00:00" == summary["leads"]["reference_time"].replace(" ", "T")
    )


def test_files_export_is_judged_at_the_pull_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leadscore.core.params import load_params
    from leadscore.crm.simulator import simulate_crm, write_export

    write_params(tmp_path, kind="files", files={"leads": "export/leads.csv"})
    monkeypatch.chdir(tmp_path)
    loaded = load_params(tmp_path / "params.yaml")
    write_export(simulate_crm(loaded.simulate, 1, 14), tmp_path / "export", file_format="csv")
    export_end = pd.Timestamp("2023-01-01") + pd.Timedelta(days=730)
    # Pulled when the export ends: young leads are immature; pulled a year later: every open lead is old.
    fresh = pull.pull(loaded, tmp_path / "fresh", now=export_end)
    late = pull.pull(loaded, tmp_path / "late", now=export_end + pd.Timedelta(days=365))
    assert fresh["pulled_at"] == export_end.isoformat()
    assert fresh["leads"]["dropped_immature"] > 0
    assert late["leads"]["dropped_immature"] == 0
    assert late["leads"]["old_open_as_lost"] > fresh["leads"]["old_open_as_lost"]


def test_pull_with_missing_export_file_exits_2_with_one_readable_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_params(tmp_path, kind="files", files={"leads": "exports/leads.csv"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        pull.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "pull: error: export file not found: exports/leads.csv"
    assert not Path("data/interim/leads.parquet").exists()
