"""Shared fixtures of the serving tests: prediction-log database URLs (SQLite and PostgreSQL).

PostgreSQL comes from ``LEADSCORE_TEST_POSTGRES_URL`` (``.ci/postgres.sh`` starts a throw-away server and sets
it); each test gets its own schema, dropped afterwards, so tests never see each other's rows. Without the
variable, or with the server unreachable, the PostgreSQL variants are skipped with a message saying why.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.exc import OperationalError

from leadscore.core.canonical import ROLE_COLUMNS
from leadscore.features.build import build_features, leads_from_frame
from leadscore.features.intent import activity_columns
from leadscore.features.spec import FeatureSpec
from leadscore.models.bundle import ScoringBundle
from leadscore.serving.auth import hash_key
from leadscore.serving.http_protocol import CoalescingHttpToolsProtocol
from leadscore.serving.settings import ServingSettings
from leadscore.serving.store import PredictionStore
from leadscore.serving.store.tables import outcomes, predictions

POSTGRES_ENV = "LEADSCORE_TEST_POSTGRES_URL"


def _postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (source .ci/postgres.sh && start_postgres <pg bin dir>)")
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        pytest.skip(
            f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is unreachable: "
            f"{str(exc.orig).strip().splitlines()[0]}"
        )
    finally:
        engine.dispose()
    return url


@pytest.fixture(name="postgres_url")
def postgres_url_fixture() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (dropped after the test)."""
    base = _postgres_url_or_skip()
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema_name}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], name="store_url")
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Prediction-log URL: an SQLite file in tmp_path, or a PostgreSQL schema when a server is configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    return str(request.getfixturevalue("postgres_url"))


# --- a real uvicorn server on 127.0.0.1 -------------------------------------------------------------------
@dataclass
class RunningServer:
    """A uvicorn server serving ``app`` on a free loopback port, in a background thread."""

    app: FastAPI
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread


@contextmanager
def running_server(
    app: FastAPI, *, ready_timeout: float = 60.0, wait_ready: bool = True
) -> Iterator[RunningServer]:
    """Serve ``app`` with a real uvicorn on 127.0.0.1 (port chosen by the OS) until the block exits.

    The socket is bound here and handed to uvicorn, so there is no window in which another process could take
    the port. Waits for uvicorn's start-up (lifespan done) and, unless told not to, for /health/ready.
    """
    # IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY only on sockets that say they are TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=CoalescingHttpToolsProtocol,  # what ``leadscore serve`` runs
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn-test")
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        with httpx.Client(base_url=base_url, timeout=5.0) as client:
            while wait_ready and client.get("/health/ready").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"service not ready: {client.get('/health/ready').text}")
                time.sleep(0.05)
        yield RunningServer(app, base_url, server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


# --- real bundles and service settings ---------------------------------------------------------------------
API_KEY = "lsk_test-key-for-the-serving-tests"
OTHER_KEY = "lsk_a-second-valid-key"


@pytest.fixture(scope="session", name="tiny_bundle_dir")
def tiny_bundle_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle trained on ~3k simulated leads (the model area's shared small bundle), saved to tmp."""
    from tests.model_fixtures import small_bundle

    return small_bundle().save(tmp_path_factory.mktemp("tiny_bundle") / "bundle")


@pytest.fixture(scope="session", name="tiny_bundle")
def tiny_bundle_fixture(tiny_bundle_dir: Path) -> ScoringBundle:
    """The tiny bundle as loaded from disk (what the service serves)."""
    return ScoringBundle.load(tiny_bundle_dir)


@pytest.fixture(scope="session", name="second_bundle_dir")
def second_bundle_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another real bundle on the same data with different trees (a different version to reload to)."""
    from tests.model_fixtures import FAST_TRAIN, fit_small, small_dataset

    fitted = fit_small(small_dataset(), FAST_TRAIN.model_copy(update={"num_leaves": 5, "n_estimators": 80}))
    return fitted.bundle.save(tmp_path_factory.mktemp("second_bundle") / "bundle")


@dataclass(frozen=True)
class LiveLeads:
    """Out-of-time leads (the tiny bundle's test period) with their activities and known outcomes."""

    leads: pd.DataFrame
    activities: pd.DataFrame


@pytest.fixture(scope="session", name="live_leads")
def live_leads_fixture() -> LiveLeads:
    """Leads the tiny bundle never trained on, as the CRM would send them."""
    from tests.model_fixtures import canonical_crm, small_dataset

    frame, crm = small_dataset().frame, canonical_crm()
    test_ids = set(frame.loc[frame["split"] == "test", "lead_id"])
    leads = crm.leads.loc[crm.leads["lead_id"].isin(test_ids)].reset_index(drop=True)
    activities = crm.activities.loc[crm.activities["lead_id"].isin(test_ids)].reset_index(drop=True)
    return LiveLeads(leads, activities)


def json_value(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()  # type: ignore[union-attr]
    return value


def count_predictions(store: PredictionStore) -> int:
    """Rows in the prediction log, read straight from the table."""
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(predictions)) or 0)


def outcome_for(store: PredictionStore, lead_id: str) -> tuple[str, datetime, datetime] | None:
    """(outcome, closed_at, received_at) of one lead as stored, or None."""
    query = select(outcomes.c.outcome, outcomes.c.closed_at, outcomes.c.received_at)
    with store.engine.connect() as conn:
        row = conn.execute(query.where(outcomes.c.lead_id == lead_id)).first()
    return None if row is None else (row[0], row[1], row[2])


def feature_frame(leads: pd.DataFrame, activities: pd.DataFrame | None, spec: FeatureSpec) -> pd.DataFrame:
    """Raw features of ``leads`` by the same calls ``ScoringBundle.score`` makes, index-aligned."""
    batch = build_features(leads_from_frame(leads, spec), spec, activity_columns(activities))
    return batch.to_frame(index=leads.index)


def lead_payloads(leads: pd.DataFrame, activities: pd.DataFrame | None) -> list[dict[str, object]]:
    """Canonical leads as API request bodies (role fields, created_at and the raw activity list)."""
    by_lead: dict[str, list[dict[str, object]]] = {}
    if activities is not None:
        for lead_id, occurred_at, activity_type in activities[
            ["lead_id", "occurred_at", "activity_type"]
        ].itertuples(index=False):
            by_lead.setdefault(lead_id, []).append(
                {"occurred_at": json_value(occurred_at), "activity_type": activity_type}
            )
    payloads = []
    fields = ["lead_id", "created_at", *[c for c in ROLE_COLUMNS if c in leads.columns]]
    for record in leads[fields].to_dict(orient="records"):
        body = {key: json_value(value) for key, value in record.items()}
        if activities is not None:
            body["activities"] = by_lead.get(str(record["lead_id"]), [])
        payloads.append(body)
    return payloads


def service_settings(tmp_path: Path, model_uri: str | Path, **overrides: object) -> ServingSettings:
    """Settings for a test service: SQLite log in tmp_path, two keys from the environment form, no polling."""
    values: dict[str, object] = {
        "model_uri": str(model_uri),
        "database_url": f"sqlite:///{tmp_path / 'predictions.db'}",
        "api_keys_file": tmp_path / "no-keys-file.json",
        "api_keys": f"tests:{hash_key(API_KEY)},other:{hash_key(OTHER_KEY)}",
        "reload_poll_seconds": 0.0,
        "log_flush_seconds": 0.05,
        "drift_min_rows": 20,
        "accuracy_min_outcomes": 20,
    }
    values.update(overrides)
    return ServingSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", name="extras_bundle_dir")
def extras_bundle_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle whose spec has an extra export column (``xcat_plan``) the API must be sent."""
    import numpy as np

    from leadscore.features.dataset import featurize
    from tests.model_fixtures import OFFSET_DAYS, PARAMS, canonical_crm, fit_small

    crm = canonical_crm()
    leads = crm.leads.copy()
    leads["xcat_plan"] = np.random.default_rng(3).choice(["free", "pro", "enterprise"], size=len(leads))
    dataset = featurize(leads, crm.activities, PARAMS.features, PARAMS.split, OFFSET_DAYS)
    assert "extra_plan" in dataset.spec.feature_names
    return fit_small(dataset).bundle.save(tmp_path_factory.mktemp("extras_bundle") / "bundle")
