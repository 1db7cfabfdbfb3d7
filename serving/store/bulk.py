"""Multi-row INSERT statements for the prediction log writer: few statements, few GIL hand-overs.

Why not ``conn.execute(table.insert(), rows)``: that is the driver's ``executemany``, one statement execution
per row, and ``sqlite3`` releases and re-acquires the GIL around every one of them. The writer thread shares
the GIL with the event loop that scores requests, so under load each of those hand-overs waits for the loop
to give the GIL up and costs both threads a context switch: measured here, an insert costs ~10 us of CPU per
row on an idle process and 40-80 us while requests are being served. One ``INSERT ... VALUES (...), (...)``
per few hundred rows makes the same rows ~12 us each either way.

The SQL text is built once per row count and dialect (SQLAlchemy would recompile a multi-values statement on
every call, ~95 us a row), values go through the column types' own bind processors (so what is stored is
byte for byte what ``table.insert()`` stores, e.g. SQLite's datetime strings), and the statement is executed
with ``exec_driver_sql``, so errors are SQLAlchemy's (``IntegrityError``, ``DataError``...) with parameters
hidden as the engine is configured.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

# SQLite before 3.32 allowed 999 bound parameters per statement, later versions 32766, PostgreSQL 65535.
_MAX_PARAMETERS = 999
_MAX_ROWS = 256
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class MultiRowInsert:
    """INSERT of many rows into ``columns`` of ``table`` with positional parameters.

    Args:
        table: the table.
        columns: the columns every row gives, in this order.
        dialect: the engine's dialect (placeholder style, identifier quoting, bind processors).

    Raises:
        ValueError: the driver's parameter style is not positional (qmark or format).
    """

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        placeholder = _PLACEHOLDERS.get(dialect.paramstyle or "")
        if placeholder is None:
            raise ValueError(f"multi-row inserts need a positional parameter style, not {dialect.paramstyle}")
        quote = dialect.identifier_preparer.quote
        self.columns = tuple(columns)
        self._processors = tuple(
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.columns
        )
        self._row_sql = "(" + ",".join([placeholder] * len(self.columns)) + ")"
        self._head = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        self._head += "(" + ",".join(quote(name) for name in self.columns) + ") VALUES "
        self.rows_per_statement = max(1, min(_MAX_ROWS, _MAX_PARAMETERS // len(self.columns)))

    @functools.lru_cache(maxsize=4)  # noqa: B019 - one instance per store, a handful of row counts
    def _sql(self, n_rows: int) -> str:
        return self._head + ",".join([self._row_sql] * n_rows)

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``rows`` (dicts with every column) in statements of up to ``rows_per_statement`` rows."""
        columns, processors = self.columns, self._processors
        step = self.rows_per_statement
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            values: list[Any] = []
            for row in chunk:
                for name, process in zip(columns, processors, strict=True):
                    value = row[name]
                    values.append(value if process is None or value is None else process(value))
            conn.exec_driver_sql(self._sql(len(chunk)), tuple(values))
        return len(rows)
