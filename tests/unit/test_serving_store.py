"""Prediction log: packaged migrations, batched inserts, idempotent outcomes, accuracy joins, the writer.

Parametrised over SQLite and PostgreSQL (the latter skipped with a reason when LEADSCORE_TEST_POSTGRES_URL is
unset or unreachable).
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Text, inspect, select, text

from leadscore.serving.store import OutcomeRecord, PredictionRow, PredictionStore, PredictionWriter
from leadscore.serving.store.db import VERSION_TABLE, create_store_engine, run_migrations
from leadscore.serving.store.tables import feature_layouts, metadata, predictions
from tests.serving_fixtures import (  # noqa: F401 - fixtures
    count_predictions,
    outcome_for,
    postgres_url_fixture,
    store_url_fixture,
)

T0 = datetime(2025, 3, 1, 12, 0, 0)


def row(
    lead_id: str,
    probability: float,
    scored_at: datetime,
    *,
    version: str = "v1",
    band: str = "C",
    features: dict | None = None,
) -> PredictionRow:
    return PredictionRow(
        lead_id=lead_id,
        model_version=version,
        features_hash="h" * 16,
        probability=probability,
        score=round(100 * probability),
        band=band,
        scored_at=scored_at,
        request_id="req-1",
        api_key_name="crm",
        features=features if features is not None else {"firmo_employees": 10.0, "industry": "saas"},
    )


@pytest.fixture
def store(store_url: str) -> PredictionStore:
    opened = PredictionStore.open(store_url)
    yield opened
    opened.close()


def test_migrations_create_the_tables_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    engine = create_store_engine(f"sqlite:///{path}")
    assert inspect(engine).get_table_names() == []
    run_migrations(engine)
    run_migrations(engine)  # idempotent: a second start changes nothing
    tables = set(inspect(engine).get_table_names())
    assert {"predictions", "outcomes", "leadscore_alembic_version"} <= tables
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM leadscore_alembic_version")) == "0001_initial"
    engine.dispose()


def test_migrated_schema_matches_the_table_definitions(store: PredictionStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata
        )
    assert diff == []


def test_inserted_predictions_keep_values_and_features_without_nan(store: PredictionStore) -> None:
    features = {"firmo_employees": float("nan"), "industry": None, "intent_web_visits_7d": 3.0}
    other = {"firmo_employees": 12.0, "industry": "saas", "intent_web_visits_7d": 0.0}
    written = store.insert_predictions(
        [row("L1", 0.25, T0, features=features), row("L2", 0.5, T0, features=other)]
    )
    assert written == 2
    assert count_predictions(store) == 2
    with store.engine.connect() as conn:
        stored = conn.execute(select(predictions).where(predictions.c.lead_id == "L1")).mappings().one()
    assert stored["probability"] == pytest.approx(0.25)
    assert stored["score"] == 25
    assert stored["api_key_name"] == "crm"
    # Bare values in the order of the version's layout, stored once: no NaN (not JSON), no repeated names.
    assert json.loads(stored["features"]) == [None, None, 3.0]
    with store.engine.connect() as conn:
        layout = conn.execute(select(feature_layouts.c.names)).scalars().all()
    assert [json.loads(names) for names in layout] == [
        ["firmo_employees", "industry", "intent_web_visits_7d"]
    ]
    frame = store.recent_features()
    assert len(frame) == 2
    first = frame.loc[frame["probability"] == 0.25].iloc[0]
    assert math.isnan(first["firmo_employees"])
    assert first["intent_web_visits_7d"] == 3.0
    assert frame["firmo_employees"].dtype == "float64"  # numeric stays numeric for the drift monitor


def test_multi_row_inserts_store_exactly_what_sqlalchemys_insert_stores(store: PredictionStore) -> None:
    """The writer's multi-row statements against the table's own insert, over several statements' worth."""
    rows_per_statement = store._insert_rows.rows_per_statement
    n = 2 * rows_per_statement + 3  # full statements and a short last one
    rows = [
        {
            **row(f"M{i}", (i % 97) / 97, T0 + timedelta(seconds=i, microseconds=i)),
            "features": f"[{i}]",
            "features_hash": None if i % 5 == 0 else f"{i:016x}",
            "api_key_name": "crm-ü" if i % 7 == 0 else "crm",
        }
        for i in range(n)
    ]
    with store.engine.begin() as conn:
        assert store._insert_rows.execute(conn, rows) == n
        conn.execute(predictions.insert(), [{**r, "lead_id": "R" + r["lead_id"]} for r in rows])
    columns = [c for c in predictions.columns if c.name not in ("id", "lead_id")]
    with store.engine.connect() as conn:
        raw = {
            lead_id: values
            for lead_id, *values in conn.execute(
                # Text casts compare the stored representation, not what the driver parses it back into.
                select(predictions.c.lead_id, *[c.cast(Text) for c in columns])
            ).all()
        }
    assert len(raw) == 2 * n
    for i in range(n):
        assert raw[f"M{i}"] == raw[f"RM{i}"]
    assert raw[f"M{n - 1}"][columns.index(predictions.c.scored_at)] is not None


def test_non_finite_and_numpy_feature_values_are_stored_as_json(store: PredictionStore) -> None:
    layout = {"a": 1.0, "b": "x", "c": 2.0, "d": 0.0}
    odd = {"a": float("inf"), "b": "Zürich", "c": np.float64("nan"), "d": np.int64(7)}
    renamed = {"a": -float("inf"), "e": 1e-05}  # not the version's layout: stored with its names
    store.insert_predictions(
        [
            row("L1", 0.1, T0, features=layout),
            row("L2", 0.2, T0, features=odd),
            row("L3", 0.3, T0, features=renamed),
        ]
    )
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(predictions.c.lead_id, predictions.c.features)).all())
    assert json.loads(stored["L1"]) == [1.0, "x", 2.0, 0.0]
    assert json.loads(stored["L2"]) == [None, "Zürich", None, 7]
    assert json.loads(stored["L3"]) == {"a": None, "e": 1e-05}


def test_rows_of_several_model_versions_and_layouts_decode_together(store: PredictionStore) -> None:
    v1 = {"a": 1.0, "b": "x"}
    store.insert_predictions([row("L1", 0.1, T0, version="v1", features=v1)])
    # v2 has other features; and a v1 row whose names differ from v1's layout is kept as an object
    store.insert_predictions(
        [
            row("L2", 0.2, T0, version="v2", features={"c": 5.0}),
            row("L3", 0.3, T0, version="v1", features={"b": "y", "a": 2.0, "extra": 1.0}),
        ]
    )
    frame = store.recent_features().set_index("probability").sort_index()
    assert list(frame["model_version"]) == ["v1", "v2", "v1"]
    assert frame.loc[0.1, "a"] == 1.0
    assert frame.loc[0.2, "c"] == 5.0
    assert (frame.loc[0.3, "a"], frame.loc[0.3, "b"], frame.loc[0.3, "extra"]) == (2.0, "y", 1.0)
    assert len(store.recent_features(model_version="v2")) == 1


def test_outcome_upsert_is_idempotent_updates_changes_and_reports_unknown_leads(
    store: PredictionStore,
) -> None:
    store.insert_predictions([row("L1", 0.2, T0), row("L2", 0.7, T0)])
    closed = T0 + timedelta(days=30)
    first = store.upsert_outcomes([OutcomeRecord("L1", "won", closed), OutcomeRecord("NOPE", "lost", closed)])
    assert (first.inserted, first.updated, first.unchanged) == (1, 0, 0)
    assert first.unknown_lead_ids == ["NOPE"]
    again = store.upsert_outcomes([OutcomeRecord("L1", "won", closed)])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    received_before = outcome_for(store, "L1")[2]
    changed = store.upsert_outcomes([OutcomeRecord("L1", "lost", closed), OutcomeRecord("L2", "won", closed)])
    assert (changed.inserted, changed.updated, changed.unchanged) == (1, 1, 0)
    outcome, closed_at, received_after = outcome_for(store, "L1")
    assert outcome == "lost"
    assert closed_at == closed
    assert received_after >= received_before
    assert outcome_for(store, "NOPE") is None  # never scored: reported, not stored


def test_outcome_timestamps_are_stored_as_naive_utc(store: PredictionStore) -> None:
    store.insert_predictions([row("L1", 0.2, T0)])
    plus_two = timezone(timedelta(hours=2))
    store.upsert_outcomes([OutcomeRecord("L1", "won", datetime(2025, 4, 1, 14, 0, tzinfo=plus_two))])
    assert outcome_for(store, "L1")[1] == datetime(2025, 4, 1, 12, 0)
    # the same instant expressed in UTC is the same outcome: no update
    same = store.upsert_outcomes([OutcomeRecord("L1", "won", datetime(2025, 4, 1, 12, 0, tzinfo=UTC))])
    assert same.unchanged == 1


def test_labelled_scores_take_the_latest_score_made_before_the_close(store: PredictionStore) -> None:
    store.insert_predictions(
        [
            row("A", 0.10, T0),
            row("A", 0.30, T0 + timedelta(days=2)),  # latest before the close: counts
            row("A", 0.90, T0 + timedelta(days=20)),  # after the close: must not count
            row("B", 0.60, T0 + timedelta(days=1), version="v2"),
            row("C", 0.40, T0 + timedelta(days=1)),  # still open
        ]
    )
    store.upsert_outcomes(
        [
            OutcomeRecord("A", "won", T0 + timedelta(days=10)),
            OutcomeRecord("B", "lost", T0 + timedelta(days=10)),
        ]
    )
    labelled = store.labelled_scores().set_index("lead_id")
    assert labelled.loc["A", "probability"] == pytest.approx(0.30)
    assert labelled.loc["A", "label"] == 1
    assert labelled.loc["B", "label"] == 0
    assert list(store.open_scores()["lead_id"]) == ["C"]
    assert list(store.labelled_scores(model_version="v2")["lead_id"]) == ["B"]
    # The window is on scored_at: only A's first score falls in [T0, T0 + 1 day).
    windowed = store.labelled_scores(start=T0, end=T0 + timedelta(days=1))
    assert list(windowed["probability"]) == [pytest.approx(0.10)]
    assert store.labelled_scores(start=T0 + timedelta(days=100)).empty


def test_writer_drains_every_queued_row_on_stop(store: PredictionStore) -> None:
    writer = PredictionWriter(store, batch_size=100, flush_seconds=5.0)
    writer.start()
    threads = [
        threading.Thread(target=lambda t=t: [writer.submit([row(f"T{t}-{i}", 0.5, T0)]) for i in range(250)])
        for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.stop()  # long flush interval: most rows are still queued here
    assert count_predictions(store) == 1000
    assert writer.written == 1000
    assert writer.lost == 0


def test_writer_flush_makes_queued_rows_visible(store: PredictionStore) -> None:
    writer = PredictionWriter(store, batch_size=1000, flush_seconds=30.0)
    writer.start()
    writer.submit([row("F1", 0.5, T0), row("F2", 0.5, T0)])
    assert writer.flush(timeout=10)
    assert count_predictions(store) == 2
    writer.stop()


def test_writer_retries_a_failed_insert_instead_of_dropping_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'late.db'}"
    store = PredictionStore(create_store_engine(url))  # tables do not exist yet: inserts fail
    writer = PredictionWriter(store, batch_size=10, flush_seconds=0.05)
    writer.start()
    writer.submit([row("R1", 0.5, T0)])
    assert not writer.flush(timeout=0.3)
    run_migrations(store.engine)  # the database comes back
    assert writer.flush(timeout=10)
    assert count_predictions(store) == 1
    assert writer.failed_batches >= 1
    writer.stop()
    store.close()


def test_writer_makes_producers_wait_when_full_and_loses_nothing(store: PredictionStore) -> None:
    # A tiny buffer and a flush interval longer than the test: only back-pressure can get the rows written.
    writer = PredictionWriter(store, batch_size=1000, flush_seconds=60.0, queue_max=2)
    writer.start()
    producer = threading.Thread(target=lambda: [writer.submit([row(f"B{i}", 0.5, T0)]) for i in range(20)])
    producer.start()
    producer.join(timeout=20)
    assert not producer.is_alive()  # the full buffer woke the writer instead of blocking for a minute
    assert writer.pending <= 2
    assert writer.flush(timeout=10)
    assert count_predictions(store) == 20
    writer.stop()
    assert writer.lost == 0


def test_writer_stopped_during_an_outage_ends_and_counts_the_rows_it_could_not_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    store = PredictionStore(create_store_engine(url))  # no tables: every insert fails, as in an outage
    writer = PredictionWriter(store, batch_size=10, flush_seconds=0.05, stop_retries=3)
    writer.start()
    writer.submit([row("D1", 0.5, T0), row("D2", 0.5, T0)])
    deadline = time.monotonic() + 10
    while writer.failed_batches < 1 and time.monotonic() < deadline:  # the batch is in flight, retrying
        time.sleep(0.01)
    assert writer.failed_batches >= 1
    writer.submit([row("D3", 0.5, T0)])  # still buffered when stop() comes
    writer.stop(timeout=20)
    assert not writer.alive
    assert writer.lost == 3
    assert writer.written == 0
    assert "2 rows not written before shutdown" in caplog.text
    store.close()


def test_writer_refuses_rows_after_the_timeout_when_full_instead_of_blocking(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    store = PredictionStore(create_store_engine(url))  # no tables yet: the database is "down"
    writer = PredictionWriter(store, batch_size=10, flush_seconds=0.05, queue_max=2)
    writer.start()
    assert writer.submit([row("Q0", 0.5, T0)], timeout=0)
    deadline = time.monotonic() + 10
    while writer.failed_batches < 1 and time.monotonic() < deadline:  # Q0 in flight, the buffer empty
        time.sleep(0.01)
    assert writer.submit([row("Q1", 0.5, T0)], timeout=0)
    assert writer.submit([row("Q2", 0.5, T0)], timeout=0)
    started = time.monotonic()
    assert not writer.submit([row("Q3", 0.5, T0)], timeout=0)  # full: refused at once
    assert not writer.submit([row("Q3", 0.5, T0)], timeout=0.2)  # full after the wait: refused
    assert 0.2 <= time.monotonic() - started < 5
    assert writer.pending == 2  # the refused rows were not buffered
    run_migrations(store.engine)  # the database comes back: everything accepted gets written
    assert writer.flush(timeout=30)
    assert count_predictions(store) == 3
    writer.stop()
    assert writer.lost == 0
    store.close()


def test_writer_writes_the_good_rows_and_rejects_the_bad_ones_without_retrying(
    store: PredictionStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A row the database refuses used to be retried forever: flush never returned, the buffer filled up and
    every /v1/score became a 503. Now the batch is bisected, the good rows land and the bad ones are counted.

    The refusals are real on both databases: a NUL in text (PostgreSQL: DataError; SQLite stores it, so there
    the row is only a control), a missing lead id (IntegrityError, NOT NULL) and a text where a timestamp
    belongs (SQLite: StatementError from SQLAlchemy's TypeError; PostgreSQL: DataError).
    """
    postgres = store.engine.dialect.name == "postgresql"
    writer = PredictionWriter(store, batch_size=8, flush_seconds=0.05)
    writer.start()
    rows = [row(f"G{i}", 0.5, T0) for i in range(20)]
    rows[3] = {**rows[3], "lead_id": "SECRET-NUL\x00"}
    rows[9] = {**rows[9], "lead_id": None}
    rows[16] = {**rows[16], "scored_at": "SECRET-not-a-time"}
    writer.submit(rows[:12])
    writer.submit(rows[12:])
    assert writer.flush(timeout=20)
    refused = 3 if postgres else 2
    assert writer.rejected == refused
    assert writer.written == 20 - refused
    assert writer.failed_batches == 0  # never treated as an outage
    assert count_predictions(store) == 20 - refused
    with store.engine.connect() as conn:
        stored = set(conn.scalars(select(predictions.c.lead_id)))
    good = {f"G{i}" for i in range(20) if i not in (3, 9, 16)}
    assert good <= stored
    assert f"{refused} of 20 rows rejected" in caplog.text
    assert "SECRET" not in caplog.text  # counts only, no values
    writer.submit([row("AFTER", 0.5, T0)])  # the log keeps going
    assert writer.flush(timeout=10)
    assert count_predictions(store) == 21 - refused
    writer.stop()
    assert writer.lost == 0


def test_only_errors_about_the_rows_themselves_are_permanent() -> None:
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError

    from leadscore.serving.store.writer import is_permanent

    orig = Exception("driver says no")
    assert is_permanent(DataError("INSERT", {}, orig))
    assert is_permanent(IntegrityError("INSERT", {}, orig))
    assert is_permanent(StatementError("bind", "INSERT", {}, TypeError("not a datetime")))
    assert is_permanent(ValueError("unserialisable feature value"))
    assert not is_permanent(OperationalError("INSERT", {}, orig))  # database down or locked: retry
    assert not is_permanent(StatementError("bind", "INSERT", {}, RuntimeError("?")))
    assert not is_permanent(RuntimeError("?"))
