"""Corrupt CSV exports, from the raw file through `pull` and `validate`: one readable line, no traceback.

test_validate_stage.py checks the gate on hand-made canonical frames; this file starts where a user starts,
with a CRM export file, and runs the two stage entry points as DVC would. Whichever stage stops, it stops with
exactly one line on stderr naming the problem, before any training (the DVC-level proof that the champion is
untouched is in test_dvc_pipeline.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from leadscore.core.params import Params
from leadscore.crm.sources import read_export
from leadscore.pipelines import pull, validate

REPO = Path(__file__).resolve().parents[2]


def _params() -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["simulate"].update({"n_leads": 1500, "days": 540})
    return params


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    p = Params.model_validate(_params())
    raw, _ = read_export(p.source, p.simulate, p.base.seed, p.base.as_of_offset_days)
    return raw


def _dup(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([raw, raw.head(3)])


def _bad_dates(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.astype({"created_at": object})
    out.loc[out.index[[4, 9]], "created_at"] = "31/02/2023"
    return out


def _unknown_status(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.copy()
    closed = out.index[out["status"] == "lost"][:3]
    out.loc[closed, "status"] = "pending"
    return out


def _future_created(raw: pd.DataFrame) -> pd.DataFrame:
    """One open lead created in 2262: it used to become the maturity reference and relabel every open lead."""
    out = raw.astype({"created_at": object})
    out.loc[out.index[out["status"] == "open"][0], "created_at"] = "2262-01-01"
    return out


def _few_won(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.copy()
    won = out.index[out["status"] == "won"]
    out.loc[won[3:], "status"] = "lost"
    return out


CASES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame] | None, str]] = {
    "duplicate ids": (_dup, "validate: error: validation failed: 1 problem: lead_id: 6 duplicate values"),
    "unparseable dates": (
        _bad_dates,
        "validate: error: validation failed: 1 problem: created_at: 2 unparseable values (e.g. '31/02/2023')",
    ),
    "unknown outcome values": (
        _unknown_status,
        "validate: error: validation failed: 1 problem: outcome: 3 unknown status values (e.g. 'pending')",
    ),
    "created in the future": (
        _future_created,
        "validate: error: validation failed: 1 problem: created_at: 1 timestamp before 1900-01-01 or after ",
    ),
    "empty file": (None, "pull: error: export file is empty: "),
    "missing mapped column": (
        lambda raw: raw.drop(columns=["industry"]),
        "pull: error: mapped column 'industry' (role industry) not in export; available: lead_id, ",
    ),
    "too few conversions": (
        _few_won,
        "validate: error: validation failed: 1 problem: label: 3 conversions (min 50)",
    ),
}


def _stage(main: Callable[[], None]) -> int:
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("case", list(CASES))
def test_corrupt_export_stops_before_training_with_one_line(
    case: str,
    export: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corrupt, expected = CASES[case]
    path = tmp_path / "exports" / "leads.csv"
    path.parent.mkdir()
    if corrupt is None:
        path.write_bytes(b"")
    else:
        corrupt(export).to_csv(path, index=False)
    params = _params()
    params["source"].update(kind="files", files={"leads": str(path)})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    code = _stage(pull.main)
    if code == 0:
        capsys.readouterr()  # pull's progress logging; the verdict is validate's
        code = _stage(lambda: validate.main([]))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    assert errors[0].startswith(expected), errors[0]
    if expected.startswith("pull"):
        # pull stopped: nothing for validate (or training) to read.
        assert not (tmp_path / "data" / "interim" / "leads.parquet").exists()
