"""Canonical frames for the validation tests: clean by default, so each test plants exactly one problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

INDUSTRIES = ["Software", "Retail", "Healthcare", "Education", "Manufacturing"]
SOURCES = ["web form", "referral", "paid search", "event"]


def make_leads(n: int = 400, seed: int = 0, base_rate: float = 0.3) -> pd.DataFrame:
    """Canonical leads with honest, mildly predictive role columns and extras (no leak, no defect)."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 365, n)), unit="D")
    industry = rng.choice(INDUSTRIES, n)
    employees = np.round(10 ** rng.uniform(0.5, 4, n))
    budget = rng.choice(["approved", "planned", "none"], n)
    # A weak, honest signal: budget and industry shift the odds a little.
    logit = (
        np.log(base_rate / (1 - base_rate)) + 0.4 * (budget == "approved") + 0.2 * (industry == "Software")
    )
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    closed = created + pd.to_timedelta(rng.uniform(30, 120, n), unit="D")
    frame = pd.DataFrame(
        {
            "lead_id": [f"L-{i:06d}" for i in range(1, n + 1)],
            "created_at": created.astype("datetime64[us]"),
            "closed_at": pd.DatetimeIndex(closed).astype("datetime64[us]"),
            "status": np.where(won, "won", "lost"),
            "outcome": np.where(won, "won", "lost"),
            "label": won.astype("int64"),
            "industry": industry,
            "employees": np.where(rng.random(n) < 0.1, np.nan, employees),
            "annual_revenue": employees * 120_000.0,
            "country": rng.choice(["United States", "Germany", "India"], n),
            "founded_year": rng.integers(1950, 2022, n).astype(float),
            "budget_status": budget,
            "lead_source": rng.choice(SOURCES, n),
            "xcat_campaign": rng.choice(["spring", "summer", "autumn"], n),
            "xnum_page_views": rng.poisson(4, n).astype(float),
        }
    )
    for column in (
        "status",
        "outcome",
        "industry",
        "country",
        "budget_status",
        "lead_source",
        "xcat_campaign",
    ):
        frame[column] = frame[column].astype("str")
    return frame


def make_activities(leads: pd.DataFrame, seed: int = 0, per_lead: int = 3) -> pd.DataFrame:
    """Activities before as_of (first 10 days after creation), of honest intent types."""
    rng = np.random.default_rng(seed)
    lead_index = np.repeat(np.arange(len(leads)), per_lead)
    at = (
        leads["created_at"].to_numpy()[lead_index]
        + pd.to_timedelta(rng.uniform(0, 10, len(lead_index)), unit="D").to_numpy()
    )
    return pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy()[lead_index].astype(str),
            "occurred_at": pd.DatetimeIndex(at).astype("datetime64[us]"),
            "activity_type": rng.choice(["email_open", "pricing_page", "webinar_attended"], len(lead_index)),
        }
    ).astype({"lead_id": "str", "activity_type": "str"})


def pull_summary(
    parse_failures: dict[str, int] | None = None,
    parse_examples: dict[str, str] | None = None,
    outcome_counts: dict[str, int] | None = None,
    pulled_at: str | None = "2024-06-01",
) -> dict[str, Any]:
    """The shape pipelines/pull.py writes (only the keys validation reads)."""
    return {
        "source_kind": "files",
        "pulled_at": pulled_at,
        "leads": {
            "parse_failures": parse_failures or {},
            "parse_examples": parse_examples or {},
            "outcome_counts": outcome_counts or {},
            "unknown_status_values": {},
        },
        "activities": {"parse_failures": {}, "parse_examples": {}, "dropped_unreadable": 0},
    }


SMALL_VALIDATE = {"min_rows": 100, "min_conversions": 20, "min_non_conversions": 20}


def write_stage_inputs(
    root: Path,
    leads: pd.DataFrame | None,
    activities: pd.DataFrame | None,
    summary: dict[str, Any] | None = None,
    validate: dict[str, Any] | None = None,
    mapping: dict[str, Any] | None = None,
) -> None:
    """Write data/interim/* and params.yaml under ``root`` as pull and the user would."""
    interim = root / "data" / "interim"
    interim.mkdir(parents=True, exist_ok=True)
    if leads is not None:
        leads.to_parquet(interim / "leads.parquet", index=False)
    if activities is not None:
        activities.to_parquet(interim / "activities.parquet", index=False)
    (interim / "pull_summary.json").write_text(json.dumps(summary or pull_summary()))
    params = {
        "base": {"seed": 7, "as_of_offset_days": 14},
        "source": {"kind": "simulator", "mapping": mapping or {}},
        "validate": {**SMALL_VALIDATE, **(validate or {})},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
