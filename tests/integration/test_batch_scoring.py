"""``leadscore score``: parity with ``bundle.score`` from raw CSV and Parquet exports, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from leadscore.cli.main import main as cli_main
from leadscore.crm.simulator import write_export
from leadscore.models.bundle import ScoringBundle
from leadscore.models.registry import log_and_register
from tests.registry_fixtures import (  # noqa: F401
    SIM_MAPPING,
    TinyWorld,
    fresh_store,
    mlflow_template_fixture,
    tiny_world_fixture,
)

SCORE_COLUMNS = ["probability", "score", "band", "is_mql", "is_sql"]
LEADSCORE = Path(sys.executable).parent / "leadscore"


@pytest.fixture(scope="module")
def export_files(tiny_world: TinyWorld, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The simulated export (PII and outcome columns included) written as CSV and as Parquet."""
    root = tmp_path_factory.mktemp("export")
    files = {}
    for fmt in ("csv", "parquet"):
        write_export(tiny_world.export, root / fmt, file_format=fmt)
        files[fmt] = root / fmt
    return files


@pytest.fixture(scope="module")
def expected(tiny_world: TinyWorld) -> pd.DataFrame:
    """What the training path gives: bundle.score on the pull stage's canonical leads and activities."""
    bundle = ScoringBundle.load(tiny_world.bundles["good"])
    return bundle.score(tiny_world.leads, tiny_world.activities).set_index("lead_id")


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"lead_id": str})
    return frame.set_index("lead_id")


def _assert_same_scores(out: pd.DataFrame, expected: pd.DataFrame, with_reasons: bool = True) -> None:
    common = expected.index
    got = out.loc[common]
    pd.testing.assert_series_equal(got["probability"], expected["probability"], rtol=0, atol=1e-12)
    for column in SCORE_COLUMNS[1:]:
        assert got[column].tolist() == expected[column].tolist(), column
    if with_reasons:
        for column in ("reasons_positive", "reasons_negative"):
            parsed = [json.loads(text) for text in got[column]]
            assert parsed == json.loads(json.dumps(expected[column].tolist())), column


@pytest.mark.parametrize(("fmt", "out_name"), [("csv", "scores.parquet"), ("parquet", "scores.csv")])
def test_scores_from_a_raw_export_equal_bundle_scores_of_the_canonical_leads(
    fmt: str,
    out_name: str,
    export_files: dict[str, Path],
    expected: pd.DataFrame,
    tiny_world: TinyWorld,
    tmp_path: Path,
) -> None:
    files = export_files[fmt]
    out = tmp_path / out_name
    argv = ["score", str(files / f"leads.{fmt}"), "-o", str(out), "--model", str(tiny_world.bundles["good"])]
    # An uneven chunk size: chunking must not change a single number.
    assert cli_main([*argv, "--activities", str(files / f"activities.{fmt}"), "--chunk-size", "700"]) == 0
    scored = _read(out)
    # Every lead of the export is scored, open and young ones included (the label policy is not applied).
    assert len(scored) == len(tiny_world.export.leads) > len(expected)
    assert list(scored.columns) == [*SCORE_COLUMNS, "reasons_positive", "reasons_negative", "model_version"]
    assert set(scored["model_version"]) == {ScoringBundle.load(tiny_world.bundles["good"]).version}
    _assert_same_scores(scored, expected)


def test_champion_from_the_registry_scores_like_its_bundle(
    export_files: dict[str, Path],
    expected: pd.DataFrame,
    tiny_world: TinyWorld,
    mlflow_template: Path,
    tmp_path: Path,
) -> None:
    tracking = fresh_store(mlflow_template, tmp_path / "store")
    log_and_register(tiny_world.bundles["good"], {}, {}, None, {}, tracking, test_leads=tiny_world.test_leads)
    out = tmp_path / "scores.csv"
    files = export_files["csv"]
    argv = ["score", str(files / "leads.csv"), "-o", str(out), "--activities", str(files / "activities.csv")]
    # --model defaults to models:/lead_scorer@champion
    assert cli_main([*argv, "--tracking-uri", tracking.tracking_uri]) == 0
    _assert_same_scores(_read(out), expected)


def test_mapping_from_a_params_file_reads_an_export_with_other_column_names(
    export_files: dict[str, Path], expected: pd.DataFrame, tiny_world: TinyWorld, tmp_path: Path
) -> None:
    renamed = {
        "lead_id": "Lead ID",
        "created_at": "Created Date",
        "industry": "Industry",
        "employees": "Headcount",
    }
    raw = pd.read_csv(export_files["csv"] / "leads.csv").rename(columns=renamed)
    raw.to_csv(tmp_path / "crm.csv", index=False)
    mapping = SIM_MAPPING.model_dump(mode="json")
    mapping.update(lead_id="Lead ID", created_at="Created Date")
    mapping["firmographic"].update(industry="Industry", employees="Headcount")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"source": {"mapping": mapping}}))
    out = tmp_path / "scores.parquet"
    argv = ["score", str(tmp_path / "crm.csv"), "-o", str(out), "--model", str(tiny_world.bundles["good"])]
    activities = ["--activities", str(export_files["csv"] / "activities.csv")]
    assert cli_main([*argv, *activities, "--mapping", str(tmp_path / "params.yaml"), "--no-reasons"]) == 0
    scored = _read(out)
    assert "reasons_positive" not in scored.columns
    _assert_same_scores(scored, expected, with_reasons=False)


def test_as_of_moves_the_scoring_moment_for_every_lead(
    export_files: dict[str, Path], expected: pd.DataFrame, tiny_world: TinyWorld, tmp_path: Path
) -> None:
    files = export_files["parquet"]
    out = tmp_path / "scores.csv"
    argv = ["score", str(files / "leads.parquet"), "-o", str(out), "--model", str(tiny_world.bundles["good"])]
    as_of = "2025-06-30T00:00:00"
    assert cli_main([*argv, "--activities", str(files / "activities.parquet"), "--as-of", as_of]) == 0
    scored = _read(out).loc[expected.index]
    bundle = ScoringBundle.load(tiny_world.bundles["good"])
    direct = bundle.score(
        tiny_world.leads, tiny_world.activities, as_of=pd.Timestamp(as_of), with_reasons=False
    )
    pd.testing.assert_series_equal(
        scored["probability"], direct.set_index("lead_id")["probability"], rtol=0, atol=1e-12
    )
    assert not scored["probability"].equals(expected["probability"])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_file", "export file not found"),
        ("unknown_extension", "unsupported export file type '.xlsx'"),
        ("missing_column", "mapped column 'employees' (role employees) not in export"),
        ("bad_output", "unsupported output file type '.json'"),
        ("bad_as_of", "--as-of: cannot read"),
        ("as_of_placeholder", "--as-of: '9999-12-31' is outside the supported time range"),
        ("bad_created_at", "created_at of lead {lead!r} cannot be read as a time: 'notadate' (1 such"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    case: str,
    message: str,
    export_files: dict[str, Path],
    tiny_world: TinyWorld,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = export_files["csv"] / "leads.csv"
    out, extra = tmp_path / "scores.csv", []
    if case == "missing_file":
        source = tmp_path / "nope.csv"
    elif case == "unknown_extension":
        source = tmp_path / "leads.xlsx"
        source.write_text("not a spreadsheet")
    elif case == "missing_column":
        source = tmp_path / "leads.csv"
        pd.read_csv(export_files["csv"] / "leads.csv").drop(columns=["employees"]).to_csv(source, index=False)
    elif case == "bad_output":
        out = tmp_path / "scores.json"
    elif case == "as_of_placeholder":
        extra = ["--as-of", "9999-12-31"]
    elif case == "bad_created_at":
        source = tmp_path / "leads.csv"
        raw = pd.read_csv(export_files["csv"] / "leads.csv", dtype={"lead_id": str})
        raw.loc[4, "created_at"] = "notadate"
        raw.to_csv(source, index=False)
        message = message.format(lead=raw.loc[4, "lead_id"])
    else:
        extra = ["--as-of", "soon"]
    argv = ["score", str(source), "-o", str(out), "--model", str(tiny_world.bundles["good"]), *extra]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("leadscore score: error: ")
    assert message in err[0]
    assert not out.exists()


def test_with_as_of_an_unreadable_created_at_is_scored_like_a_blank_one_with_a_warning(
    export_files: dict[str, Path], tiny_world: TinyWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--as-of fixes every lead's scoring moment, so created_at decides nothing: a typo in it must not stop
    the run while a blank one is scored."""
    raw = pd.read_csv(export_files["csv"] / "leads.csv", dtype={"lead_id": str})
    scores = {}
    for name, value in (("typo", "notadate"), ("blank", None)):
        leads = raw.copy()
        leads.loc[4, "created_at"] = value
        leads.to_csv(tmp_path / f"{name}.csv", index=False)
        argv = ["score", str(tmp_path / f"{name}.csv"), "-o", str(tmp_path / f"{name}_scores.csv")]
        argv += ["--model", str(tiny_world.bundles["good"]), "--no-reasons", "--as-of", "2025-06-30"]
        assert cli_main(argv) == 0
        scores[name] = pd.read_csv(tmp_path / f"{name}_scores.csv", dtype={"lead_id": str})
    err = capsys.readouterr().err
    assert "created_at: 1 value could not be read and scored as missing (e.g. 'notadate')" in err
    assert len(scores["typo"]) == len(raw)
    pd.testing.assert_frame_equal(scores["typo"], scores["blank"])


def test_unreadable_values_are_scored_as_missing_with_one_warning_per_column(
    export_files: dict[str, Path], tiny_world: TinyWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They used to vanish silently: a typo scored as "unknown" and a 9999 activity left out unannounced."""
    leads = pd.read_csv(export_files["csv"] / "leads.csv", dtype={"lead_id": str})
    leads["employees"] = leads["employees"].astype(object)
    leads.loc[[3, 7], "employees"] = ["abc", "n.a."]
    leads.loc[9, "employees"] = -5
    activities = pd.read_csv(export_files["csv"] / "activities.csv", dtype={"lead_id": str})
    activities.loc[2, "occurred_at"] = "9999-01-01"
    leads.to_csv(tmp_path / "leads.csv", index=False)
    activities.to_csv(tmp_path / "activities.csv", index=False)
    argv = ["score", str(tmp_path / "leads.csv"), "-o", str(tmp_path / "scores.csv"), "--no-reasons"]
    argv += ["--model", str(tiny_world.bundles["good"]), "--activities", str(tmp_path / "activities.csv")]
    assert cli_main(argv) == 0
    warnings = [
        line.split(" WARNING leadscore.models.batch: ")[-1] for line in capsys.readouterr().err.splitlines()
    ]
    assert "employees: 2 values could not be read and scored as missing (e.g. 'abc')" in warnings
    assert any(w.startswith("employees: 1 value outside [0, ] (e.g. -5.0)") for w in warnings), warnings
    assert (
        f"activities: 1 of {len(activities)} rows left out (1 unreadable occurred_at, e.g. '9999-01-01')"
        in warnings
    )
    assert len(pd.read_csv(tmp_path / "scores.csv")) == len(leads)


def test_console_script_scores_and_fails_cleanly(
    export_files: dict[str, Path], expected: pd.DataFrame, tiny_world: TinyWorld, tmp_path: Path
) -> None:
    files = export_files["csv"]
    out = tmp_path / "scores.parquet"
    argv = [str(LEADSCORE), "score", str(files / "leads.csv"), "-o", str(out)]
    argv += ["--model", str(tiny_world.bundles["good"]), "--activities", str(files / "activities.csv")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    _assert_same_scores(_read(out), expected)

    missing = subprocess.run(
        [str(LEADSCORE), "score", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2
    assert (
        missing.stderr.strip() == f"leadscore score: error: export file not found: {tmp_path / 'absent.csv'}"
    )
    assert "Traceback" not in missing.stderr


def test_progress_bar_counts_the_scored_leads_on_stderr(
    tiny_world: TinyWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal `leadscore score` shows a progress bar (stderr, so stdout stays clean for pipes)."""
    from leadscore.models.batch import score_in_chunks

    bundle = ScoringBundle.load(tiny_world.bundles["good"])
    leads = tiny_world.leads.head(300)
    scored = score_in_chunks(bundle, leads, tiny_world.activities, chunk_size=100, progress=True)
    captured = capsys.readouterr()
    assert len(scored) == 300
    assert captured.out == ""
    assert "scoring" in captured.err
    assert "300/300" in captured.err
    score_in_chunks(bundle, leads, tiny_world.activities, chunk_size=100, progress=False)
    assert capsys.readouterr().err == ""
