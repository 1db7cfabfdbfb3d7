"""``leadscore report --scored --outcomes`` reads a real CRM export: its own status words, placeholder dates.

The export says "Closed Won" / "Closed Lost" / "Open" (as Salesforce-style CRMs do) and marks "no close date"
as 9999-12-31. The statuses must be read with ``--params``' ``source.label`` values, exactly as the pull stage
reads them; a status the label policy does not know is one readable line, never a report without outcomes
that says "No action".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leadscore.cli.main import main as cli_main
from leadscore.core.params import ReportParams
from leadscore.monitoring.metrics import roc_auc

CRM_LABEL = {"won_values": ["Closed Won"], "lost_values": ["Closed Lost"], "open_values": ["Open"]}


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """scores.csv (what `leadscore score` writes) and leads.csv (the CRM export it was scored from)."""
    rng = np.random.default_rng(5)
    n = 1500
    created = (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 545, n), unit="D")).floor("s")
    p = rng.beta(1.3, 5.0, n)
    won = rng.random(n) < p
    status = np.where(won, "Closed Won", "Closed Lost").astype(object)
    closed = pd.Series(created + pd.to_timedelta(rng.uniform(5, 60, n), unit="D")).dt.strftime("%Y-%m-%d")
    still_open = rng.random(n) < 0.1
    status[still_open] = "Open"
    closed[still_open] = None
    leads = pd.DataFrame(
        {"lead_id": [f"L{i}" for i in range(n)], "created_at": created, "status": status, "closed_at": closed}
    )
    scores, outcomes = tmp_path / "scores.csv", tmp_path / "leads.csv"
    pd.DataFrame({"lead_id": leads["lead_id"], "probability": p}).to_csv(scores, index=False)
    leads.to_csv(outcomes, index=False)
    return scores, outcomes, leads


def _params(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"source": {"label": CRM_LABEL}}))
    return path


def _report(scores: Path, outcomes: Path, out: Path, *extra: str) -> list[str]:
    args = ["report", "--quarter", "2025Q2", "--scored", str(scores), "--outcomes", str(outcomes)]
    return [*args, "--out", str(out), *extra]


def test_the_crms_status_words_are_read_with_the_label_policy(
    export: tuple[Path, Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores, outcomes, leads = export
    assert cli_main(_report(scores, outcomes, tmp_path / "r", "--params", str(_params(tmp_path)))) == 0
    payload = json.loads(Path(capsys.readouterr().out.split()[1]).read_text())
    realized = payload["realized"]
    assert realized is not None
    # Exactly the leads of the realized cohort that had matured and closed won/lost by the report's as_of.
    closed = pd.to_datetime(leads["closed_at"])
    as_of = closed.max()
    known = (
        (leads["created_at"].dt.to_period("Q") == pd.Period(realized["cohort"], freq="Q"))
        & (leads["created_at"] <= as_of - pd.Timedelta(days=ReportParams().maturity_days))
        & leads["status"].isin(["Closed Won", "Closed Lost"])
    )
    assert realized["n"] == int(known.sum())
    p = pd.read_csv(scores)["probability"][known].to_numpy()
    expected = roc_auc((leads.loc[known, "status"] == "Closed Won").to_numpy(float), p)
    assert realized["metrics"]["auc"] == pytest.approx(expected, abs=1e-12)


def test_status_words_the_label_policy_does_not_know_are_one_line(
    export: tuple[Path, Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores, outcomes, _ = export
    # The default policy: won / lost / open, compared case-insensitively ("Open" is open).
    assert cli_main(_report(scores, outcomes, tmp_path / "r")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1] == (
        f"leadscore report: error: {outcomes} column 'status': status values 'Closed Lost', 'Closed Won' are "
        "none of source.label's won ['won'], lost ['lost'] or open ['open'] (pass --params with the CRM's "
        "values)"
    )


def test_placeholder_close_dates_count_as_not_closed_with_a_warning(
    export: tuple[Path, Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores, outcomes, leads = export
    raw = pd.read_csv(outcomes, dtype={"lead_id": str})
    placeholder = raw.index[raw["status"] == "Open"][:3]
    raw.loc[placeholder, "closed_at"] = "9999-12-31"
    raw.to_csv(outcomes, index=False)
    args = _report(scores, outcomes, tmp_path / "r", "--params", str(_params(tmp_path)))
    assert cli_main(args) == 0
    captured = capsys.readouterr()
    # Read through the params' mapping, as pull reads it: the placeholders are unreadable, so not closed.
    assert f"{outcomes.name}: 3 closed_at values could not be read and count as missing" in captured.err
    payload = json.loads(Path(captured.out.split()[1]).read_text())
    # The default as_of is the export's latest real time, not the placeholder.
    assert pd.Timestamp(payload["as_of"]) == pd.to_datetime(leads["closed_at"]).max()
