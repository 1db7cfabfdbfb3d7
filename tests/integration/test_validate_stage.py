"""The validate stage's main() on tmp_path: corrupt exports stop the stage with one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.pipelines import validate as stage
from tests.validation_fixtures import make_activities, make_leads, pull_summary, write_stage_inputs

LEADS = make_leads(300, seed=2)
ACTIVITIES = make_activities(LEADS)


def _run(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.chdir(root)
    code = 0
    try:
        stage.main([])
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _summary(root: Path) -> dict:
    return json.loads((root / "reports" / "validation" / "summary.json").read_text())


def test_clean_export_passes_and_writes_all_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stage_inputs(tmp_path, LEADS, ACTIVITIES)
    code, err = _run(tmp_path, monkeypatch, capsys)
    assert code == 0, err
    summary = _summary(tmp_path)
    assert summary["success"] is True
    assert summary["counts"]["rows"] == 300
    out = tmp_path / "reports" / "validation"
    assert json.loads((out / "gx_result.json").read_text())["leads"]["success"] is True
    assert "PASSED" in (out / "summary.html").read_text()


def _dup(leads: pd.DataFrame) -> pd.DataFrame:
    out = leads.copy()
    out.loc[[5, 6], "lead_id"] = out.loc[4, "lead_id"]
    return out


def _bad_dates(leads: pd.DataFrame) -> pd.DataFrame:
    out = leads.copy()
    out.loc[[3, 8], "created_at"] = pd.NaT
    return out


def _unknown(leads: pd.DataFrame) -> pd.DataFrame:
    out = leads.copy()
    out["label"] = out["label"].astype("Int64")
    out.loc[[1, 2, 3], ["status", "outcome", "label"]] = ["pending", "unknown", pd.NA]
    return out


def _few_won(leads: pd.DataFrame) -> pd.DataFrame:
    out = leads.assign(label=0, outcome="lost", status="lost")
    out.loc[:2, ["label", "outcome", "status"]] = [1, "won", "won"]
    return out


def _negative(leads: pd.DataFrame) -> pd.DataFrame:
    return leads.assign(employees=np.where(np.arange(len(leads)) == 7, -40.0, leads["employees"]))


def _closed_early(leads: pd.DataFrame) -> pd.DataFrame:
    out = leads.copy()
    out.loc[10, "closed_at"] = out.loc[10, "created_at"] - pd.Timedelta(days=1)
    return out


CORRUPT: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], dict, dict, str]] = {
    "duplicate ids": (_dup, {}, {}, "lead_id: 3 duplicate values (e.g. 'L-000005')"),
    "unparseable dates": (
        _bad_dates,
        pull_summary(parse_failures={"created_at": 2}, parse_examples={"created_at": "31/02/2023"}),
        {},
        "created_at: 2 unparseable values (e.g. '31/02/2023')",
    ),
    "unknown outcome values": (_unknown, {}, {}, "outcome: 3 unknown status values (e.g. 'pending')"),
    "missing mapped column": (
        lambda f: f.drop(columns=["employees"]),
        {},
        {"firmographic": {"employees": "Employees"}},
        "employees (export column 'Employees'): column missing (required, or mapped in source.mapping)",
    ),
    "too few conversions": (_few_won, {}, {}, "label: 3 conversions (min 20)"),
    "negative employees": (_negative, {}, {}, "employees: 1 value below 0 (e.g. -40)"),
    "closed before created": (
        _closed_early,
        {},
        {},
        "closed_at: 1 lead closed before they were created (e.g. 'L-000011')",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_export_stops_validate_with_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt, summary, mapping, expected = CORRUPT[case]
    leads = corrupt(LEADS)
    activities = ACTIVITIES[ACTIVITIES["lead_id"].isin(leads["lead_id"])]  # as pull writes them
    write_stage_inputs(tmp_path, leads, activities, summary=summary or None, mapping=mapping)
    code, err = _run(tmp_path, monkeypatch, capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last == f"validate: error: validation failed: 1 problem: {expected}"
    report = _summary(tmp_path)
    assert report["success"] is False
    assert [f["line"] for f in report["failures"]] == [expected]


def test_empty_leads_file_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stage_inputs(tmp_path, None, ACTIVITIES)
    (tmp_path / "data" / "interim" / "leads.parquet").write_bytes(b"")
    code, err = _run(tmp_path, monkeypatch, capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "validate: error: validation failed: 1 problem: "
        "leads: data/interim/leads.parquet is empty (0 bytes): re-run the pull stage"
    )
    assert _summary(tmp_path)["success"] is False


def test_zero_row_export_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stage_inputs(tmp_path, LEADS.iloc[0:0], ACTIVITIES.iloc[0:0])
    code, err = _run(tmp_path, monkeypatch, capsys)
    assert code == 2
    assert err.strip().endswith("leads: 0 rows: the export is empty")


def test_leaky_column_stops_validate_naming_the_column_with_action_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    leaky = LEADS.assign(xnum_close_value=np.where(LEADS["label"] == 1, 2500.0, 0.0))
    write_stage_inputs(tmp_path, leaky, ACTIVITIES, validate={"leakage": {"action": "stop"}})
    code, err = _run(tmp_path, monkeypatch, capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "validate: error: validation failed: 1 problem: xnum_close_value: possible leakage"
    )
    suspects = _summary(tmp_path)["leak_suspects"]
    assert [(s["name"], s["fails_gate"]) for s in suspects] == [("xnum_close_value", True)]

    # Once the owner vouches for it (source.mapping.allow_leaky), it is a warning and the stage passes.
    write_stage_inputs(
        tmp_path,
        leaky,
        ACTIVITIES,
        validate={"leakage": {"action": "stop"}},
        mapping={"allow_leaky": ["close_value"]},
    )
    code, err = _run(tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert _summary(tmp_path)["success"] is True


def test_leaky_column_is_excluded_by_default_and_featurize_drops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default ``validate.leakage.action: exclude``: the stage passes, records the suspect with its evidence,
    and the featurize stage leaves it out of the feature frame and the spec (so the model never sees it)."""
    from leadscore.pipelines import featurize

    leaky = LEADS.assign(xnum_close_value=np.where(LEADS["label"] == 1, 2500.0, 0.0))
    write_stage_inputs(tmp_path, leaky, ACTIVITIES)
    code, err = _run(tmp_path, monkeypatch, capsys)
    assert code == 0, err
    summary = _summary(tmp_path)
    assert summary["success"] is True
    (excluded,) = summary["excluded_columns"]
    assert excluded["name"] == "xnum_close_value"
    assert excluded["evidence"].startswith("rank AUC of the value 1.000")

    featurize.main([])  # same tmp_path, its params.yaml and the report just written
    processed = tmp_path / "data" / "processed"
    spec = json.loads((processed / "spec.json").read_text())
    assert "xnum_close_value" not in spec["extra_numeric"]
    assert "extra_close_value" not in spec["feature_names"]
    assert "extra_close_value" not in pd.read_parquet(processed / "features.parquet").columns
    run_summary = json.loads((processed / "featurize_summary.json").read_text())
    assert [e["name"] for e in run_summary["excluded_columns"]] == ["xnum_close_value"]

    # Without the exclusion the same column would have been a feature: the test can fail.
    (tmp_path / "reports" / "validation" / "summary.json").write_text(json.dumps({"excluded_columns": []}))
    featurize.main([])
    assert "extra_close_value" in json.loads((processed / "spec.json").read_text())["feature_names"]
