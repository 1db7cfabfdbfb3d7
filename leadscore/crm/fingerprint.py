"""A cheap fingerprint of the CRM export, so ``dvc repro`` retrains when (and only when) the data changed.

DVC decides what to re-run from the hashes of a stage's dependencies. The export is not a file DVC knows
about (its path is a param, or it is a database), so the ``fingerprint`` stage, which DVC runs on every
``dvc repro``, writes this fingerprint to a small JSON file that ``pull`` depends on: same data, same file,
nothing downstream runs; a refreshed export, a new file, and the pipeline retrains.

- files: the SHA-256 of every file read (leads, joined tables, activities). Content, not modification time, so
  copying the same export over itself is not a change.
- sql: per table or query read, a hash of the table name or query text, the row count, and the latest value
  of the mapped time columns, plus the row count per status value: one aggregate query each, cheap on an
  indexed CRM table, and it sees new leads, new activities and leads that closed (an update that changes
  nothing of these is not seen: pin the export or run with ``dvc repro -f pull``).
- simulator: nothing beyond the params, which DVC already tracks.

Nothing secret is written: database URLs appear with the password masked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from leadscore.core.errors import SourceError
from leadscore.core.params import ActivityMapping, SourceParams
from leadscore.core.urls import redact_url
from leadscore.crm.sources import sql_connection

FINGERPRINT_FORMAT = 1
_CHUNK = 1 << 20


def source_fingerprint(source: SourceParams) -> dict[str, Any]:
    """The fingerprint of the configured export (JSON-ready; same data gives the same dict).

    Raises:
        SourceError: a file or table cannot be read (the same one-line errors as ``pull``).
    """
    out: dict[str, Any] = {"format": FINGERPRINT_FORMAT, "kind": source.kind}
    activities = source.mapping.activities or ActivityMapping()
    if source.kind == "files":
        assert source.files is not None  # guaranteed by SourceParams validation
        paths = {"leads": source.files.leads}
        paths.update({f"join:{spec.on}": spec.path for spec in source.mapping.joins if spec.path})
        if activities.path:
            paths["activities"] = activities.path
        out["files"] = {role: file_fingerprint(Path(path)) for role, path in paths.items()}
    elif source.kind == "sql":
        assert source.sql is not None
        url = source.sql.url
        mapping = source.mapping
        lead_times = [c for c in (mapping.created_at, mapping.closed_at) if c]
        reads: dict[str, dict[str, Any]] = {
            "leads": sql_fingerprint(
                url,
                table=source.sql.leads_table,
                query=source.sql.leads_query,
                time_columns=lead_times,
                group_column=mapping.status,
            )
        }
        for spec in mapping.joins:
            if spec.table:
                reads[f"join:{spec.on}"] = sql_fingerprint(url, table=spec.table)
        if activities.table or activities.query:
            reads["activities"] = sql_fingerprint(
                url, table=activities.table, query=activities.query, time_columns=[activities.occurred_at]
            )
        out["database"] = redact_url(url)
        out["reads"] = reads
    return out


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of one export file.

    Raises:
        SourceError: the file is missing or unreadable.
    """
    if not path.is_file():
        raise SourceError(f"export file not found: {path}")
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    except OSError as exc:
        raise SourceError(f"cannot read export file {path}: {exc.strerror or exc}") from None
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def sql_fingerprint(
    url: str,
    *,
    table: str | None = None,
    query: str | None = None,
    time_columns: list[str] | None = None,
    group_column: str | None = None,
) -> dict[str, Any]:
    """Row count, latest times and (optionally) row counts per ``group_column`` value of a table or query.

    Columns that the table or query does not have are left out of the aggregates rather than failing: the
    ``pull`` stage is the one that reports a mapping that names a missing column.

    Raises:
        SourceError: unreachable database, unknown table, bad SQL.
    """
    from sqlalchemy import func, inspect, select, text
    from sqlalchemy.sql import column as sql_column
    from sqlalchemy.sql import table as sql_table

    if (table is None) == (query is None):
        raise SourceError("a sql read needs exactly one of table or query")
    what = f"table '{table}'" if table else "query"
    identity = f"table:{table}" if table else f"query:{query}"
    out: dict[str, Any] = {"read": hashlib.sha256(identity.encode()).hexdigest()[:16]}
    with sql_connection(url, f"fingerprint {what}") as connection:
        source: Any  # a table or a subquery: both expose .c
        if table is not None:
            schema_name, _, table_name = table.rpartition(".")
            present = {c["name"] for c in inspect(connection).get_columns(table_name, schema_name or None)}
            wanted = [c for c in (*(time_columns or []), group_column) if c and c in present]
            source = sql_table(table_name, *[sql_column(c) for c in wanted], schema=schema_name or None)
        else:
            probe = connection.execute(text(f"SELECT * FROM ({query}) AS fingerprint_probe WHERE 1 = 0"))
            present = set(probe.keys())
            wanted = [c for c in (*(time_columns or []), group_column) if c and c in present]
            source = text(query or "").columns(*[sql_column(c) for c in wanted]).subquery("fingerprint")
        times = [c for c in (time_columns or []) if c in wanted]
        row = connection.execute(
            select(func.count(), *[func.max(source.c[c]) for c in times]).select_from(source)
        ).one()
        out["rows"] = int(row[0])
        out["latest"] = {c: None if v is None else str(v) for c, v in zip(times, row[1:], strict=True)}
        if group_column and group_column in wanted:
            counts = connection.execute(
                select(source.c[group_column], func.count())
                .select_from(source)
                .group_by(source.c[group_column])
            ).all()
            out["rows_by_" + group_column] = {
                str(k): int(n) for k, n in sorted(counts, key=lambda r: str(r[0]))
            }
    return out
