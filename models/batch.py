"""``leadscore score``: score a CSV/Parquet CRM export with a bundle or the registered champion.

The export is mapped with the same ``leadscore.crm.mapping`` code the pull stage uses (the bundle stores the
mapping it was trained with, so an export in the training shape needs no config) and scored with
``bundle.score``: the numbers are the API's and evaluation's numbers. Outcome columns are not needed, and are
ignored when present: a lead's score must not depend on how it ended.

Output: one row per lead (ordered by created_at, like the canonical frame) with lead_id, probability, score,
band, is_mql, is_sql, reasons_positive / reasons_negative (JSON strings; left out with ``--no-reasons``) and
model_version (the bundle's content hash).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import ConfigError, SchemaError
from leadscore.core.params import DEFAULT_MODEL_URI, ActivityMapping, LabelPolicy, Mapping
from leadscore.core.timestamps import RANGE_TEXT, timestamp_ns

if TYPE_CHECKING:
    from leadscore.crm.mapping import MappingReport
    from leadscore.models.bundle import ScoringBundle

logger = logging.getLogger(__name__)

DEFAULT_MODEL = DEFAULT_MODEL_URI
OUTPUT_SUFFIXES = (".csv", ".parquet")
REASON_COLUMNS = ("reasons_positive", "reasons_negative")
SCORE_COLUMNS = ("probability", "score", "band", "is_mql", "is_sql")


def load_model(location: str, tracking_uri: str) -> ScoringBundle:
    """Load the bundle to score with: a bundle directory directly, anything else through MLflow.

    A plain bundle directory does not need MLflow, whose import alone takes seconds; registry URIs and pyfunc
    model directories go through ``leadscore.models.mlflow_model.load_bundle``.
    """
    if not location.startswith(("models:/", "runs:/")) and not (Path(location) / "MLmodel").is_file():
        from leadscore.models.bundle import ScoringBundle

        return ScoringBundle.load(location)
    from leadscore.core.logs import quiet_environment

    quiet_environment()
    from leadscore.models.mlflow_model import load_bundle

    return load_bundle(location, tracking_uri=tracking_uri)


def parse_as_of(value: str | None) -> pd.Timestamp | None:
    """Parse ``--as-of`` into a naive UTC timestamp (the canonical clock); ``now`` is accepted."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp.now(tz="UTC") if value.strip().lower() == "now" else pd.Timestamp(value)
    except ValueError:
        raise ConfigError(
            f"--as-of: cannot read {value!r} as a time (use ISO 8601, e.g. 2025-03-31T00:00)"
        ) from None
    if pd.isna(stamp):
        raise ConfigError(f"--as-of: cannot read {value!r} as a time")
    try:
        return pd.Timestamp(timestamp_ns(stamp, "--as-of"))
    except SchemaError:
        raise ConfigError(f"--as-of: {value!r} is outside the supported time range {RANGE_TEXT}") from None


def canonical_export(
    raw_leads: pd.DataFrame,
    raw_activities: pd.DataFrame | None,
    mapping: Mapping,
    *,
    as_of: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Map an unlabeled (or labeled) export onto canonical leads and activities, keeping every lead.

    Outcome columns are dropped before mapping: the label policy would otherwise drop young leads, which are
    exactly the ones a batch run is for, and nothing about the outcome may reach scoring.

    Values the mapping could not read are not fatal (they are scored as missing, and unreadable activity rows
    are left out), but they are logged per column with a count and an example, as are numbers outside
    ``canonical.NUMERIC_RANGES``: a run must not quietly score typos. An unreadable created_at is fatal
    without ``as_of``, since it then decides when the lead is scored; with ``as_of`` every lead is scored at
    that moment, so it is only warned about, as a blank one is.

    Raises:
        SourceError: A mapped column is missing from the export.
        ConfigError: without ``as_of``, a created_at value cannot be read as a time (the message names the
            lead).
    """
    from leadscore.crm.mapping import map_activities, map_leads

    outcome_columns = [
        c for c in (mapping.status, mapping.closed_at, mapping.true_p) if c and c in raw_leads.columns
    ]
    without_outcome = raw_leads.drop(columns=outcome_columns)
    # No status column, so no label policy applies: the default policy is only a required argument.
    mapped = map_leads(without_outcome, mapping, LabelPolicy(), require_outcome=False)
    _check_parse_failures(mapped.report, without_outcome[mapping.lead_id], created_at_decides=as_of is None)
    leads = mapped.leads
    _warn_out_of_range(leads)
    if raw_activities is None:
        return leads, None
    activities, summary = map_activities(raw_activities, mapping.activities or ActivityMapping())
    if summary["dropped_unreadable"]:
        examples = {
            column: f"{count} unreadable {column}, e.g. {summary['parse_examples'][column]!r}"  # type: ignore[index]
            for column, count in summary["parse_failures"].items()  # type: ignore[attr-defined]
        }
        logger.warning(
            "activities: %d of %d rows left out (%s)",
            summary["dropped_unreadable"],
            summary["rows_in"],
            "; ".join(examples.values()) or "missing lead id or type",
        )
    return leads, activities


def _check_parse_failures(report: MappingReport, raw_ids: pd.Series, *, created_at_decides: bool) -> None:
    """Stop on an unreadable created_at when it decides the scoring moment (naming the lead); else warn."""
    failures, examples = report.parse_failures, report.parse_examples
    if created_at_decides and canonical.CREATED_AT in failures:
        lead = raw_ids.iloc[report.parse_example_rows[canonical.CREATED_AT]]
        raise ConfigError(
            f"created_at of lead {str(lead)!r} cannot be read as a time: {examples[canonical.CREATED_AT]!r}"
            f" ({failures[canonical.CREATED_AT]} such values in the export)"
        )
    for column, count in failures.items():
        logger.warning(
            "%s: %s could not be read and scored as missing (e.g. %r)",
            column,
            _values(count),
            examples[column],
        )


def _warn_out_of_range(leads: pd.DataFrame) -> None:
    """Warn about numbers the training gate would reject (they are scored as given)."""
    for column, (low, high) in canonical.NUMERIC_RANGES.items():
        if column not in leads.columns:
            continue
        values = leads[column]
        bad = (values < low if low is not None else False) | (values > high if high is not None else False)
        if bad.any():
            logger.warning(
                "%s: %s outside [%s, %s] (e.g. %s); the training gate rejects such values",
                column,
                _values(int(bad.sum())),
                low,
                "" if high is None else high,
                values[bad].iloc[0],
            )


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _chunks(
    leads: pd.DataFrame, activities: pd.DataFrame | None, size: int
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    starts = range(0, len(leads), size)
    if activities is None:
        yield from ((leads.iloc[start : start + size], None) for start in starts)
        return
    # Activities are grouped once by lead so each chunk takes its rows without scanning the whole log again.
    positions = activities.groupby(canonical.ACTIVITY_LEAD_ID, sort=False).indices
    for start in starts:
        chunk = leads.iloc[start : start + size]
        rows = [positions[i] for i in chunk[canonical.LEAD_ID].unique() if i in positions]
        taken = np.sort(np.concatenate(rows)) if rows else np.empty(0, dtype=np.int64)
        yield chunk, activities.iloc[taken]


def score_in_chunks(
    bundle: ScoringBundle,
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    *,
    as_of: pd.Timestamp | None = None,
    with_reasons: bool = True,
    top_reasons: int = 3,
    chunk_size: int = 20_000,
    progress: bool = False,
) -> pd.DataFrame:
    """Score canonical leads chunk by chunk and return the export frame (reasons as JSON strings).

    Chunking bounds memory (reason attribution is the expensive part) and drives the progress bar; the numbers
    are the same as one ``bundle.score`` call because every lead is scored independently.
    """
    from tqdm import tqdm

    parts = []
    with tqdm(total=len(leads), unit="lead", desc="scoring", file=sys.stderr, disable=not progress) as bar:
        for chunk, chunk_activities in _chunks(leads, activities, chunk_size):
            scored = bundle.score(
                chunk, chunk_activities, as_of=as_of, top_reasons=top_reasons, with_reasons=with_reasons
            )
            parts.append(_export_frame(scored, with_reasons))
            bar.update(len(chunk))
    columns = [canonical.LEAD_ID, *SCORE_COLUMNS, *(REASON_COLUMNS if with_reasons else ()), "model_version"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    out["model_version"] = bundle.version
    return out[columns]


def _export_frame(scored: pd.DataFrame, with_reasons: bool) -> pd.DataFrame:
    out = scored[[canonical.LEAD_ID, *SCORE_COLUMNS]].copy()
    if with_reasons:
        for column in REASON_COLUMNS:
            out[column] = [json.dumps(_plain(value)) for value in scored[column]]
    return out


def _plain(value: Any) -> Any:
    """Numpy scalars and NaN -> JSON-safe Python values (NaN is not valid JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def write_scores(scored: pd.DataFrame, path: Path) -> None:
    """Write CSV or Parquet by extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        scored.to_parquet(path, index=False)
    else:
        scored.to_csv(path, index=False)
