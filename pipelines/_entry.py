"""Shared edge behaviour of every DVC stage: parse params once, log, one readable line + exit 2 on errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import LeadscoreError, SourceError
from leadscore.core.logs import configure_logging
from leadscore.core.params import Params, load_params

VALIDATION_SUMMARY = Path("reports/validation/summary.json")
SPLIT_COLUMN = "split"  # leadscore.features.dataset.SPLIT_COLUMN, without importing the feature code


def run_stage(name: str, body: Callable[[Params], None], params_path: str = "params.yaml") -> None:
    """Run one pipeline stage body and exit the process with a clear status.

    DVC stops the pipeline at the first non-zero exit, which is how a failed validation gate keeps training
    (and the champion alias) untouched.
    """
    configure_logging()
    try:
        body(load_params(params_path))
    except LeadscoreError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)  # noqa: T201 - the one readable line for the user
        sys.exit(2)
    logging.getLogger(name).info("%s: done", name)


def stage_arguments(
    module: str, doc: str | None, paths: Sequence[tuple[str, Path, str]], argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse a stage's command line: ``--<name> PATH`` per (name, default, help), plus ``--params``.

    Every stage takes the same shape of options (where to read, where to write, which params file), so tests
    and one-off runs can point a stage at a temporary directory without DVC.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=(doc or module).splitlines()[0])
    for name, default, help_text in paths:
        parser.add_argument(f"--{name}", type=Path, default=default, help=help_text)
    parser.add_argument("--params", default="params.yaml", help="params file")
    return parser.parse_args(argv)


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

PathsT = TypeVar("PathsT", bound="DataclassInstance")


def run_paths_stage(
    module: str,
    doc: str | None,
    defaults: PathsT,
    helps: Mapping[str, str],
    run: Callable[[Params, PathsT], object],
    argv: Sequence[str] | None,
) -> None:
    """``main`` of a stage whose locations are one paths dataclass: ``--<field>`` per entry of ``helps``.

    The options default to ``defaults``' fields, the parsed paths replace them, and ``run(params, paths)``
    runs under :func:`run_stage` (stage name = the module's last part).
    """
    fields = [(name, getattr(defaults, name), help_text) for name, help_text in helps.items()]
    args = stage_arguments(module, doc, fields, argv)
    paths = dataclasses.replace(defaults, **{name: getattr(args, name) for name in helps})

    def body(params: Params) -> None:
        run(params, paths)

    run_stage(module.rsplit(".", 1)[-1], body, params_path=args.params)


def read_stage_parquet(
    path: Path, columns: list[str] | None = None, error: type[LeadscoreError] = SourceError
) -> pd.DataFrame:
    """Read a stage input; a missing or corrupt file is one readable domain error naming the file."""
    if not path.exists():
        raise error(f"{path} not found: run the stage that writes it first (dvc repro)")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow raises several types for corrupt files; the user needs the file name
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise error(f"{path} is not a readable Parquet file ({type(exc).__name__}: {first})") from None


def feature_frame_path(processed: Path) -> Path:
    """data/processed/features.parquet, or the first parquet there that has lead_id and split columns."""
    import pyarrow.parquet as pq

    preferred = processed / "features.parquet"
    candidates = [preferred] if preferred.exists() else sorted(processed.glob("*.parquet"))
    for path in candidates:
        try:
            names = pq.read_schema(path).names
        except Exception:  # noqa: BLE001 - an unreadable candidate is skipped; none readable is the error below
            continue
        if canonical.LEAD_ID in names and SPLIT_COLUMN in names:
            return path
    raise SourceError(
        f"no readable parquet file with '{canonical.LEAD_ID}' and '{SPLIT_COLUMN}' columns in {processed}: "
        "run the featurize stage first (dvc repro)"
    )


def load_periods(
    interim: Path, processed: Path, splits: Sequence[str], columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Canonical leads of the ``splits`` periods, their activities and their rows of the feature frame.

    The feature frame only says which period a lead is in (and carries its scoring moment and derived
    columns); the leads are re-read from the canonical tables so that evaluation, registration and the report
    score them through ``bundle.score``, the production path, rather than re-using training features.

    Args:
        interim: the pull stage's directory (leads.parquet, activities.parquet).
        processed: the featurize stage's directory (the feature frame).
        splits: the periods wanted ("train", "validation", "test").
        columns: feature-frame columns to return besides lead_id, where present (e.g. "as_of").

    Returns:
        (leads, activities or None when there is no log, frame: lead_id as text plus the present ``columns``).

    Raises:
        SourceError: an input is missing or unreadable, or no lead belongs to those periods.
    """
    import pyarrow.parquet as pq

    frame_path = feature_frame_path(processed)
    available = set(pq.read_schema(frame_path).names) - {canonical.LEAD_ID, SPLIT_COLUMN}
    wanted = [canonical.LEAD_ID, SPLIT_COLUMN, *[c for c in dict.fromkeys(columns) if c in available]]
    frame = read_stage_parquet(frame_path, columns=wanted)
    frame = frame.loc[frame[SPLIT_COLUMN].isin(list(splits))].drop(columns=SPLIT_COLUMN)
    frame[canonical.LEAD_ID] = frame[canonical.LEAD_ID].astype("str")
    ids = pd.Index(frame[canonical.LEAD_ID].unique())
    leads_path = interim / "leads.parquet"
    leads = read_stage_parquet(leads_path)
    leads = leads.loc[leads[canonical.LEAD_ID].astype("str").isin(ids)].reset_index(drop=True)
    if leads.empty:
        raise SourceError(f"no lead of the {list(splits)} period(s) of {frame_path} is in {leads_path}")
    activities = None
    activities_path = interim / "activities.parquet"
    if activities_path.exists():
        activities = read_stage_parquet(activities_path)
        keep = activities[canonical.ACTIVITY_LEAD_ID].astype("str").isin(ids)
        activities = activities.loc[keep].reset_index(drop=True)
    return leads, activities, frame.reset_index(drop=True)


def excluded_columns(summary_path: Path = VALIDATION_SUMMARY) -> list[dict[str, Any]]:
    """The leakage suspects the validate stage excluded: ``excluded_columns`` of a stage summary JSON.

    validate writes them (reports/validation/summary.json), featurize passes them on
    (data/processed/featurize_summary.json).
    A missing summary (a stage run by hand, outside DVC) excludes nothing.
    """
    if not summary_path.exists():
        return []
    try:
        data = json.loads(summary_path.read_text())
    except ValueError:
        raise SourceError(f"{summary_path} is not valid JSON: re-run the stage that writes it") from None
    return list(data.get("excluded_columns") or []) if isinstance(data, dict) else []
