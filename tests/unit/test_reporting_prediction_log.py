"""The report's input from the prediction log: one query in the store, one MQL/SQL rule in the band scheme.

``PredictionStore.report_scores`` picks each lead's latest score made no later than its close (its latest
while open) and decodes the stored feature values; ``report_input`` adds the flags through
``BandScheme.flags``, the same rule the bundle applies when scoring. The reporting library itself never
imports the service's store.
"""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.core.params import BandParams
from leadscore.core.urls import redact_url
from leadscore.models.bands import fit_bands
from leadscore.reporting.prediction_log import report_input
from leadscore.serving.store import OutcomeRecord, PredictionRow, PredictionStore

T0 = datetime(2025, 3, 1, 12, 0, 0)
REPORTING = Path(__file__).resolve().parents[2] / "leadscore" / "reporting"


def _row(lead_id: str, probability: float, at: datetime, band: str, features: dict | None) -> PredictionRow:
    return PredictionRow(
        lead_id=lead_id,
        model_version="v1",
        features_hash=None,
        probability=probability,
        score=round(100 * probability),
        band=band,
        scored_at=at,
        request_id=None,
        api_key_name=None,
        features=features,
    )


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    opened = PredictionStore.open(f"sqlite:///{tmp_path / 'log.db'}")
    yield opened
    opened.close()


def test_report_scores_takes_the_latest_score_before_the_close_with_its_features(
    store: PredictionStore,
) -> None:
    layout = {"firmo_industry": "retail", "firmo_size_band": 2.0}
    store.insert_predictions(
        [
            _row("won", 0.30, T0, "C", layout),
            _row(
                "won", 0.60, T0 + timedelta(days=5), "B", {"firmo_industry": "saas", "firmo_size_band": 3.0}
            ),
            # Scored again after the close: it could have seen the outcome coming, so it never counts.
            _row("won", 0.99, T0 + timedelta(days=40), "A", layout),
            _row("open", 0.10, T0, "D", layout),
            _row("open", 0.20, T0 + timedelta(days=50), "D", {"other": 1}),  # a row with its own names
            _row("bare", 0.50, T0, "B", None),
            _row("late", 0.40, T0 - timedelta(days=400), "C", layout),  # outside the window
        ]
    )
    store.upsert_outcomes([OutcomeRecord("won", "won", T0 + timedelta(days=30))])
    frame = store.report_scores(T0 - timedelta(days=1), T0 + timedelta(days=90)).set_index("lead_id")
    assert sorted(frame.index) == ["bare", "open", "won"]
    assert frame.loc["won", "probability"] == 0.60
    assert frame.loc["won", "outcome"] == "won"
    assert frame.loc["won", "closed_at"] == pd.Timestamp(T0 + timedelta(days=30))
    assert frame.loc["won", "firmo_industry"] == "saas"
    assert frame.loc["won", "firmo_size_band"] == 3.0
    assert frame.loc["open", "probability"] == 0.20
    assert pd.isna(frame.loc["open", "outcome"])
    assert pd.isna(frame.loc["open", "closed_at"])
    assert frame.loc["open", "other"] == 1
    assert pd.isna(frame.loc["open", "firmo_industry"])
    assert pd.isna(frame.loc["bare", "firmo_industry"])


def test_report_scores_of_an_empty_window_has_no_rows(store: PredictionStore) -> None:
    assert store.report_scores(T0, T0 + timedelta(days=1)).empty


def test_logged_bands_are_qualified_by_the_scoring_rule() -> None:
    """Flags read back from logged bands equal the flags the bundle gave when it scored."""
    rng = np.random.default_rng(0)
    scheme = fit_bands(rng.beta(1.5, 6.0, 2000), BandParams())
    p = rng.beta(1.5, 6.0, 500)
    is_mql, is_sql = scheme.qualification(p)
    logged = pd.DataFrame(
        {"lead_id": [f"L{i}" for i in range(len(p))], "probability": p, "band": scheme.assign(p)}
    )
    logged["scored_at"] = pd.Timestamp("2025-01-01")
    frame = report_input(logged, scheme)
    assert frame["is_mql"].tolist() == is_mql.tolist()
    assert frame["is_sql"].tolist() == is_sql.tolist()
    assert 0 < is_sql.sum() < is_mql.sum() < len(p)
    unknown = report_input(logged.assign(band="Z").head(3), scheme)
    assert not unknown["is_mql"].any()
    assert not unknown["is_sql"].any()


def test_the_reporting_library_does_not_import_the_service() -> None:
    """Only the command (an edge) may reach the service's store; the library takes frames."""
    offenders = []
    for path in sorted(REPORTING.glob("*.py")):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("serving", "models")]
    assert offenders == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://report:s3cret@db.internal:5432/leads",
            "postgresql://report:***@db.internal:5432/leads",
        ),
        ("sqlite:///leadscore-predictions.db", "sqlite:///leadscore-predictions.db"),
        ("not a url user:s3cret@host", "host"),
    ],
)
def test_database_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
