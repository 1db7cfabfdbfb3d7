"""The export fingerprint changes exactly when the data does (files by content, SQL by cheap aggregates)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from leadscore.core.errors import SourceError
from leadscore.core.params import ActivityMapping, Mapping, SourceParams
from leadscore.crm.fingerprint import source_fingerprint


def leads_frame(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Id": [f"L{i}" for i in range(n)],
            "Created": pd.date_range("2025-01-01", periods=n, freq="D").astype(str),
            "Closed": [None] * n,
            "Status": ["Open"] * n,
        }
    )


def files_source(tmp_path: Path) -> SourceParams:
    mapping = Mapping(
        lead_id="Id",
        created_at="Created",
        closed_at="Closed",
        status="Status",
        activities=ActivityMapping(path=str(tmp_path / "acts.csv"), lead_id="Id", occurred_at="At"),
    )
    return SourceParams(kind="files", files={"leads": str(tmp_path / "leads.csv")}, mapping=mapping)


def test_files_fingerprint_follows_content_not_modification_time(tmp_path: Path) -> None:
    leads_frame().to_csv(tmp_path / "leads.csv", index=False)
    pd.DataFrame({"Id": ["L1"], "At": ["2025-01-02"], "activity_type": ["email_open"]}).to_csv(
        tmp_path / "acts.csv", index=False
    )
    source = files_source(tmp_path)
    first = source_fingerprint(source)
    assert set(first["files"]) == {"leads", "activities"}
    (tmp_path / "leads.csv").write_bytes((tmp_path / "leads.csv").read_bytes())  # same bytes, new mtime
    assert source_fingerprint(source) == first
    changed = leads_frame()
    changed.loc[2, "Status"] = "Closed Won"
    changed.to_csv(tmp_path / "leads.csv", index=False)
    second = source_fingerprint(source)
    assert second["files"]["leads"]["sha256"] != first["files"]["leads"]["sha256"]
    assert second["files"]["activities"] == first["files"]["activities"]


def test_a_missing_export_file_is_one_readable_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="export file not found: .*leads.csv"):
        source_fingerprint(files_source(tmp_path))


def sql_source(url: str, **sql: str) -> SourceParams:
    mapping = Mapping(
        lead_id="Id",
        created_at="Created",
        closed_at="Closed",
        status="Status",
        activities=ActivityMapping(table="acts", lead_id="Id", occurred_at="At"),
    )
    return SourceParams(kind="sql", sql={"url": url, **sql}, mapping=mapping)


def sql_urls(tmp_path: Path) -> list[str]:
    urls = [f"sqlite:///{tmp_path / 'crm.db'}"]
    if os.environ.get("LEADSCORE_TEST_POSTGRES_URL"):
        urls.append(os.environ["LEADSCORE_TEST_POSTGRES_URL"])
    return urls


@pytest.mark.parametrize("read", ["table", "query"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sql_fingerprint_sees_new_rows_closed_leads_and_new_activities_only(
    tmp_path: Path, read: str, backend: str
) -> None:
    url = next((u for u in sql_urls(tmp_path) if u.startswith(backend)), None)
    if url is None:
        pytest.skip("LEADSCORE_TEST_POSTGRES_URL is not set (source .ci/postgres.sh to start a server)")
    engine = create_engine(url)
    leads_frame().to_sql("leads", engine, index=False, if_exists="replace")
    pd.DataFrame({"Id": ["L1"], "At": ["2025-01-02"]}).to_sql(
        "acts", engine, index=False, if_exists="replace"
    )
    section = {"leads_table": "leads"} if read == "table" else {"leads_query": "SELECT * FROM leads"}
    source = sql_source(url, **section)
    first = source_fingerprint(source)
    assert first["reads"]["leads"]["rows"] == 5
    assert source_fingerprint(source) == first  # unchanged tables, same fingerprint
    with engine.begin() as connection:  # a lead closes: same row count, another status count
        connection.execute(text("UPDATE leads SET \"Status\" = 'Closed Won' WHERE \"Id\" = 'L2'"))
    closed = source_fingerprint(source)
    assert closed["reads"]["leads"] != first["reads"]["leads"]
    assert closed["reads"]["activities"] == first["reads"]["activities"]
    pd.DataFrame({"Id": ["L3"], "At": ["2025-02-01"]}).to_sql("acts", engine, index=False, if_exists="append")
    assert source_fingerprint(source)["reads"]["activities"] != closed["reads"]["activities"]
    engine.dispose()


def test_sql_fingerprint_never_writes_the_password_and_names_a_missing_table(tmp_path: Path) -> None:
    source = sql_source("postgresql+psycopg://user:s3cret@127.0.0.1:1/crm", leads_table="leads")
    with pytest.raises(SourceError) as caught:
        source_fingerprint(source)
    assert "s3cret" not in str(caught.value)
    engine = create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    pd.DataFrame({"x": [1]}).to_sql("other", engine, index=False)
    with pytest.raises(SourceError, match="cannot fingerprint table 'leads'"):
        source_fingerprint(sql_source(f"sqlite:///{tmp_path / 'crm.db'}", leads_table="leads"))
