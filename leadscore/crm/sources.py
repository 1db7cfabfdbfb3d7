"""Read a CRM export from the simulator, CSV/Parquet files or a SQL database.

Readers return the export *as is* (export column names); :mod:`leadscore.crm.mapping` turns it into
canonical columns. Secondary tables listed in ``mapping.joins`` are read from the same kind of source and
joined here, so the leads frame handed to the mapping is always one wide table. Every failure is a
:class:`SourceError` with one readable line (which file, which table, what the database said), never a
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from leadscore.core.errors import SourceError
from leadscore.core.params import ActivityMapping, SimulateParams, SourceParams
from leadscore.core.urls import redact_url
from leadscore.crm.mapping import apply_joins

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)


def read_export(
    source: SourceParams, simulate: SimulateParams, seed: int, as_of_offset_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the raw leads (joins applied) and the raw activity log of the configured source.

    Args:
        source: which source and how its columns map.
        simulate: simulator settings (used when ``source.kind == "simulator"``).
        seed: simulator seed (base.seed).
        as_of_offset_days: the scoring moment the simulator's ``true_p`` refers to.

    Returns:
        ``(raw_leads, raw_activities)`` in export shape. Activities may have 0 rows (with the mapped columns).

    Raises:
        SourceError: the export cannot be read.
    """
    activity_mapping = source.mapping.activities or ActivityMapping()
    if source.kind == "simulator":
        from leadscore.crm.simulator import simulate_crm

        export = simulate_crm(simulate, seed=seed, as_of_offset_days=as_of_offset_days)
        return export.leads, export.activities

    if source.kind == "files":
        assert source.files is not None  # guaranteed by SourceParams validation
        separator = source.files.csv_separator
        leads = read_table_file(source.files.leads, separator)
        joined = []
        for spec in source.mapping.joins:
            if not spec.path:
                raise SourceError(f"join on '{spec.on}' needs a path for a files source")
            joined.append(read_table_file(spec.path, separator))
        if activity_mapping.path:
            activities = read_table_file(activity_mapping.path, separator)
        else:
            activities = _empty_activities(activity_mapping)
    else:
        assert source.sql is not None
        url = source.sql.url
        leads = read_sql(url, table=source.sql.leads_table, query=source.sql.leads_query)
        joined = []
        for spec in source.mapping.joins:
            if not spec.table:
                raise SourceError(f"join on '{spec.on}' needs a table for a sql source")
            joined.append(read_sql(url, table=spec.table))
        if activity_mapping.table or activity_mapping.query:
            activities = read_sql(url, table=activity_mapping.table, query=activity_mapping.query)
        else:
            activities = _empty_activities(activity_mapping)

    if source.mapping.joins:
        leads = apply_joins(leads, joined, source.mapping.joins)
    logger.info(
        "read %d leads and %d activities from the %s source", len(leads), len(activities), source.kind
    )
    return leads, activities


def read_table_file(path: str | Path, csv_separator: str = ",") -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by extension; ``.csv.gz`` works too).

    Raises:
        SourceError: missing, empty or unreadable file.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"export file not found: {path}")
    if path.is_dir():
        raise SourceError(f"export path is a directory, expected a CSV or Parquet file: {path}")
    if path.stat().st_size == 0:
        raise SourceError(f"export file is empty: {path}")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            frame = pd.read_parquet(path)
        elif ".csv" in suffixes or ".txt" in suffixes or ".tsv" in suffixes:
            frame = pd.read_csv(path, sep="\t" if ".tsv" in suffixes else csv_separator, low_memory=False)
        else:
            raise SourceError(f"unsupported export file type {path.suffix!r} (use .csv or .parquet): {path}")
    except SourceError:
        raise
    except pd.errors.EmptyDataError:
        raise SourceError(f"export file has no columns: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise SourceError(f"cannot read export file {path}: {_first_line(exc)}") from None
    if frame.shape[1] <= 1 and csv_separator == "," and ".csv" in suffixes and len(frame.columns):
        # One column usually means the wrong separator (European exports use ';').
        logger.warning(
            "%s was read as a single column %r: check source.files.csv_separator", path, frame.columns[0]
        )
    return frame


def read_sql(url: str, *, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    """Read a table or query through SQLAlchemy (SQLite tested, PostgreSQL supported by the same code).

    Raises:
        SourceError: unreachable database, unknown table, bad SQL.
    """
    from sqlalchemy import inspect, text

    if (table is None) == (query is None):
        raise SourceError("a sql read needs exactly one of table or query")
    what = f"table '{table}'" if table else "query"
    with sql_connection(url, f"read {what}") as connection:
        if table is not None:
            schema_name, _, table_name = table.rpartition(".")
            names = inspect(connection).get_table_names(schema=schema_name or None)
            if table_name not in names:
                known = ", ".join(sorted(names)) or "(none)"
                raise SourceError(f"table '{table}' not found in {redact_url(url)}; tables: {known}")
            return pd.read_sql_table(table_name, connection, schema=schema_name or None)
        return pd.read_sql_query(text(query or ""), connection)


@contextmanager
def sql_connection(url: str, action: str) -> Iterator[Connection]:
    """A connection to ``url`` whose failures are one readable line: ``cannot <action> from <url>: <reason>``.

    The one place a source database is opened (reading the export, fingerprinting it), so every error names
    the database with its password masked and the engine is always disposed.

    Raises:
        SourceError: an invalid URL, an unreachable database or a failing statement.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    shown = redact_url(url)
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise SourceError(f"invalid database URL {shown}: {_first_line(exc)}") from None
    try:
        with engine.connect() as connection:
            yield connection
    except SourceError:
        raise
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        raise SourceError(f"cannot {action} from {shown}: {_first_line(exc.__cause__ or exc)}") from None
    finally:
        engine.dispose()


def _empty_activities(mapping: ActivityMapping) -> pd.DataFrame:
    """An activity log with no rows: the pipeline still runs on firmographic and BANT features."""
    return pd.DataFrame(
        {
            mapping.lead_id: pd.Series(dtype="str"),
            mapping.occurred_at: pd.Series(dtype="datetime64[us]"),
            mapping.activity_type: pd.Series(dtype="str"),
        }
    )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["read_export", "read_sql", "read_table_file", "sql_connection"]
