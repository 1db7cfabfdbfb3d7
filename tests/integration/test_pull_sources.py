"""Files and SQL sources round-trip a `leadscore simulate` export into the same canonical frames."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import pytest

from leadscore.cli.main import main as leadscore_main
from leadscore.core import canonical
from leadscore.core.errors import SourceError
from leadscore.core.params import ActivityMapping, Params, SimulateParams, SourceParams, parse_params
from leadscore.crm.mapping import map_activities, map_leads
from leadscore.crm.simulator import simulate_crm, write_export
from leadscore.crm.sources import read_export, read_sql, read_table_file

N_LEADS = 1500
SEED = 11


def simulator_source() -> SourceParams:
    return Params().source.model_copy(
        update={
            "mapping": parse_params(
                {
                    "source": {
                        "mapping": {
                            "firmographic": {r: r for r in canonical.FIRMOGRAPHIC_ROLES},
                            "bant": {r: r for r in canonical.BANT_ROLES},
                            "lead_source": "lead_source",
                            "first_contact_at": "first_contact_at",
                            "true_p": "true_p",
                        }
                    }
                }
            ).source.mapping
        }
    )


def canonical_frames(source: SourceParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw_leads, raw_activities = read_export(source, SimulateParams(n_leads=N_LEADS), SEED, 14)
    leads = map_leads(raw_leads, source.mapping, source.label).leads
    activities, _ = map_activities(raw_activities, source.mapping.activities or ActivityMapping())
    return leads, activities


@pytest.fixture(scope="module")
def expected() -> tuple[pd.DataFrame, pd.DataFrame]:
    return canonical_frames(simulator_source())


def with_source(kind: str, **section: object) -> SourceParams:
    base = simulator_source()
    data = base.model_dump()
    data.update({"kind": kind, **section})
    return SourceParams.model_validate(data)


def assert_same(
    actual: tuple[pd.DataFrame, pd.DataFrame], expected: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    leads, activities = actual
    pd.testing.assert_frame_equal(leads, expected[0], check_dtype=False, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(activities, expected[1], check_dtype=False)


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_files_source_round_trips_a_simulated_export(
    tmp_path: Path, file_format: str, expected: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    code = leadscore_main(
        [
            "simulate",
            "--out",
            str(tmp_path),
            "--format",
            file_format,
            "--n-leads",
            str(N_LEADS),
            "--seed",
            str(SEED),
        ]
    )
    assert code == 0
    mapping = simulator_source().mapping.model_copy(
        update={"activities": ActivityMapping(path=str(tmp_path / f"activities.{file_format}"))}
    )
    source = with_source("files", files={"leads": str(tmp_path / f"leads.{file_format}")}, mapping=mapping)
    assert_same(canonical_frames(source), expected)


def test_sql_source_round_trips_a_simulated_export_through_sqlite(
    tmp_path: Path, expected: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    db = tmp_path / "crm.db"
    assert (
        leadscore_main(["simulate", "--sqlite", str(db), "--n-leads", str(N_LEADS), "--seed", str(SEED)]) == 0
    )
    url = f"sqlite:///{db}"
    mapping = simulator_source().mapping.model_copy(
        update={"activities": ActivityMapping(table="activities")}
    )
    by_table = with_source("sql", sql={"url": url, "leads_table": "leads"}, mapping=mapping)
    assert_same(canonical_frames(by_table), expected)
    by_query = with_source("sql", sql={"url": url, "leads_query": "SELECT * FROM leads"}, mapping=mapping)
    assert_same(canonical_frames(by_query), expected)


def test_csv_separator_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("id;name\n1;a\n2;b\n")
    assert read_table_file(path, ";").columns.tolist() == ["id", "name"]


def test_missing_and_empty_files_are_one_line_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="export file not found: .*nope.csv"):
        read_table_file(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SourceError, match="export file is empty"):
        read_table_file(empty)
    unsupported = tmp_path / "leads.xlsx"
    unsupported.write_text("x")
    with pytest.raises(SourceError, match="unsupported export file type '.xlsx'"):
        read_table_file(unsupported)


def test_unknown_table_and_bad_sql_are_one_line_source_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    pd.DataFrame({"a": [1]}).to_sql("leads", url, index=False)
    with pytest.raises(SourceError, match="table 'deals' not found in sqlite:///.*; tables: leads"):
        read_sql(url, table="deals")
    with pytest.raises(SourceError) as error:
        read_sql(url, query="SELEC * FROM leads")
    assert "cannot read query" in str(error.value)
    assert "\n" not in str(error.value)


def test_database_password_is_not_echoed_in_errors() -> None:
    with pytest.raises(SourceError) as error:
        read_sql("postgresql+psycopg://user:s3cret@127.0.0.1:1/crm", table="leads")
    assert "s3cret" not in str(error.value)


@pytest.mark.postgres
def test_sql_source_reads_postgresql_through_the_same_code(
    expected: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    url = os.environ.get("LEADSCORE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("LEADSCORE_TEST_POSTGRES_URL is not set (source .ci/postgres.sh to start a server)")
    from sqlalchemy import create_engine, text

    suffix = uuid.uuid4().hex[:8]
    leads_table, activities_table = f"crm_leads_{suffix}", f"crm_activities_{suffix}"
    export = simulate_crm(SimulateParams(n_leads=N_LEADS), seed=SEED, as_of_offset_days=14)
    write_export(export, url, leads_table=leads_table, activities_table=activities_table)
    try:
        mapping = simulator_source().mapping.model_copy(
            update={"activities": ActivityMapping(table=activities_table)}
        )
        source = with_source("sql", sql={"url": url, "leads_table": leads_table}, mapping=mapping)
        assert_same(canonical_frames(source), expected)
    finally:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {leads_table}, {activities_table}"))
        engine.dispose()
