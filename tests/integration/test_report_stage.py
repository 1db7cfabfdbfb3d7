"""The report stage's main() and the ``leadscore report`` command on real bundles and files in tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leadscore.cli.main import main as cli_main
from leadscore.models.bundle import ScoringBundle
from leadscore.pipelines.report import main, pick_quarter
from tests.registry_fixtures import TinyWorld, tiny_world_fixture  # noqa: F401


@pytest.fixture(scope="module")
def reported(tiny_world: TinyWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "data" / "interim").mkdir(parents=True)
    (root / "data" / "processed").mkdir(parents=True)
    tiny_world.leads.to_parquet(root / "data" / "interim" / "leads.parquet", index=False)
    tiny_world.activities.to_parquet(root / "data" / "interim" / "activities.parquet", index=False)
    tiny_world.frame.to_parquet(root / "data" / "processed" / "features.parquet", index=False)
    shutil.copytree(tiny_world.bundles["good"], root / "data" / "model")
    params = {"base": {"seed": 5}, "report": {"bootstrap_samples": 20, "min_segment_count": 30}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    main(
        [
            *("--interim", str(root / "data" / "interim")),
            *("--processed", str(root / "data" / "processed")),
            *("--model", str(root / "data" / "model")),
            *("--registry", str(root / "reports" / "registry.json")),
            *("--out", str(root / "reports" / "quarterly")),
            *("--params", str(root / "params.yaml")),
        ]
    )
    return root


def _payload(root: Path) -> dict:
    (path,) = (root / "reports" / "quarterly").glob("quarterly_report_*.json")
    return json.loads(path.read_text())


def test_stage_writes_html_and_json_twin(reported: Path) -> None:
    (html_path,) = (reported / "reports" / "quarterly").glob("quarterly_report_*.html")
    page = html_path.read_text()
    assert "https://" not in page
    assert "http://" not in page
    assert "<script" not in page
    assert "data:image/png;base64," in page
    payload = _payload(reported)
    assert html_path.stem.endswith(payload["quarter"])
    assert payload["recommendations"]
    assert all(rec["rule"] for rec in payload["recommendations"])
    assert payload["drift"]["vs_reference"]["baseline"] == "reference"
    assert {"industry", "lead_source", "region", "size_band"} <= set(payload["segments"])


def test_report_describes_the_test_period_scored_by_the_bundle(reported: Path, tiny_world: TinyWorld) -> None:
    payload = _payload(reported)
    test = tiny_world.frame[tiny_world.frame["split"] == "test"]
    quarter = pd.Period(payload["quarter"], freq="Q")
    in_quarter = test[pd.to_datetime(test["as_of"]).dt.to_period("Q") == quarter]
    assert payload["kpis"]["leads_scored"] == len(in_quarter)
    # The label-free estimate is the mean of bundle.score's probabilities for exactly those leads.
    bundle = ScoringBundle.load(tiny_world.bundles["good"])
    leads = tiny_world.leads[tiny_world.leads["lead_id"].isin(in_quarter["lead_id"])]
    activities = tiny_world.activities[tiny_world.activities["lead_id"].isin(in_quarter["lead_id"])]
    p = bundle.score(leads, activities, with_reasons=False)["probability"].to_numpy()
    assert payload["estimated"]["metrics"]["expected_base_rate"] == pytest.approx(p.mean(), abs=1e-9)


def test_stage_report_is_a_backtest_as_of_the_quarter_end(reported: Path) -> None:
    payload = _payload(reported)
    assert payload["source"].startswith("backtest: the test period")
    end = pd.Period(payload["quarter"], freq="Q").end_time
    assert pd.Timestamp(payload["as_of"]) <= end
    # Leads younger than the maturity window on that day carry the label-free estimate only.
    current = [c for c in payload["cohorts"] if c["quarter"] == payload["quarter"]][0]
    assert current["matured_share"] < 1.0
    assert payload["estimated"]["n_immature"] > 0


def test_pick_quarter_takes_the_latest_with_enough_leads() -> None:
    scored = pd.DataFrame(
        {"scored_at": pd.to_datetime(["2025-01-05"] * 5 + ["2025-04-02"] * 5 + ["2025-07-01"] * 2)}
    )
    assert pick_quarter(scored, min_count=3) == "2025Q2"
    assert pick_quarter(scored, min_count=50) == "2025Q3"
    # A trailing sliver of a quarter (scoring stopped mid-quarter) is not the default report quarter.
    sliver = pd.DataFrame({"scored_at": pd.to_datetime(["2025-06-30"] * 5 + ["2025-07-02"] * 5)})
    assert pick_quarter(sliver, min_count=3) == "2025Q2"


def _scored_file(path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 3000
    created = pd.Timestamp("2024-07-01") + pd.to_timedelta(rng.uniform(0, 365, n), unit="D")
    p = rng.beta(1.2, 6.0, n)
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_at": created,
            "probability": p,
            "band": np.where(p > np.quantile(p, 0.7), "A", "B"),
            "is_mql": p > np.quantile(p, 0.7),
            "outcome": np.where(rng.random(n) < p, "won", "lost"),
            "industry": rng.choice(["software", "retail"], n),
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_leadscore_report_command_writes_the_report(tmp_path: Path) -> None:
    scored = _scored_file(tmp_path / "scored.csv")
    code = cli_main(
        ["report", "--scored", str(scored), "--quarter", "2025Q2", "--out", str(tmp_path / "out")]
    )
    assert code == 0
    payload = json.loads((tmp_path / "out" / "quarterly_report_2025Q2.json").read_text())
    assert payload["realized"]["cohort"] == "2025Q1"
    assert payload["realized"]["metrics"]["auc"] > 0.6


def test_leadscore_report_command_with_missing_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(["report", "--scored", str(tmp_path / "nope.csv"), "--quarter", "2025Q2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "leadscore report: error:" in err
    assert f"file not found: {tmp_path / 'nope.csv'}" in err
