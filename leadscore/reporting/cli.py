"""``leadscore report --quarter 2026Q3``: the quarterly model review (HTML + JSON) from scored leads.

Two sources, as RevOps has them:

* the scoring service's prediction log joined with the outcomes the CRM posted back (the default: the same
  ``LEADSCORE_DATABASE_URL`` the service writes, or ``--database-url``), or
* a batch-scored export (``--scored FILE``: ``leadscore score`` output joined with the CRM's outcomes, CSV or
  Parquet).

The DVC ``report`` stage builds the same report from the pipeline's own data (pipelines/report.py), and the
service answers it on ``GET /v1/report`` (serving/routes/report.py).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pandas as pd

from leadscore.errors import ConfigError, SourceError
from leadscore.params import BandParams, ReportParams, load_params
from leadscore.reporting.quarterly import build_quarterly_report, parse_quarter
from leadscore.reporting.render import write_report
from leadscore.reporting.segments import add_segments

logger = logging.getLogger(__name__)

DATABASE_ENV = "LEADSCORE_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///leadscore-predictions.db"  # the service's default (serving.settings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sub-command's options."""
    parser.add_argument("--quarter", required=True, help="report quarter, e.g. 2026Q3")
    parser.add_argument(
        "--scored",
        type=Path,
        help="CSV or Parquet of batch-scored leads (lead_id, probability, scored_at or created_at, label or "
        "outcome, band, is_mql, segment columns); default: read the prediction log instead",
    )
    parser.add_argument(
        "--database-url",
        help=f"prediction log SQLAlchemy URL (default: ${DATABASE_ENV} or {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--reference", type=Path, help="optional drift baseline (e.g. data/reference/reference.parquet)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/quarterly"), help="output directory")
    parser.add_argument(
        "--params",
        type=Path,
        help="params.yaml whose `report` and `bands` sections to use (default: defaults)",
    )
    parser.add_argument(
        "--as-of", dest="as_of", help="knowledge time of the report (default: latest timestamp in the data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, failing with one line that names it."""
    if not path.exists():
        raise SourceError(f"{path} not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types; the user needs the file name
        raise SourceError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def redacted(url: str) -> str:
    """The URL with any password masked (for messages and the report)."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def read_prediction_log(url: str, quarter: str, params: ReportParams, bands: BandParams) -> pd.DataFrame:
    """The report quarter and the ``quarters_shown - 1`` before it from the prediction log at ``url``."""
    from sqlalchemy import create_engine, make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from leadscore.reporting.prediction_log import scored_from_prediction_log

    period = parse_quarter(quarter)
    start = (period - (params.quarters_shown - 1)).start_time.to_pydatetime()
    end = (period + 1).start_time.to_pydatetime()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"--database-url {url!r} is not a SQLAlchemy URL") from None
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        if not Path(database).exists():  # SQLite would create an empty file and report "no such table"
            raise SourceError(
                f"no prediction log at {database} (start the service with `leadscore serve`, set "
                f"{DATABASE_ENV} or --database-url, or pass a batch-scored export with --scored)"
            )
    engine = create_engine(parsed)
    try:
        return scored_from_prediction_log(
            engine,
            start=start,
            end=end,
            band_names=list(bands.band_shares),
            mql_band=bands.mql_band,
            sql_band=bands.sql_band,
        )
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SourceError(f"cannot read the prediction log at {redacted(url)}: {reason}") from None
    finally:
        engine.dispose()


def run(args: argparse.Namespace) -> int:
    """Build and write the report; returns the exit code."""
    loaded = load_params(args.params) if args.params else None
    params = loaded.report if loaded else ReportParams()
    bands = loaded.bands if loaded else BandParams()
    if args.scored:
        scored = read_table(args.scored)
        source = f"batch-scored export {args.scored.name}"
    else:
        url = args.database_url or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE_URL
        scored = read_prediction_log(url, args.quarter, params, bands)
        if scored.empty:
            raise SourceError(
                f"the prediction log at {redacted(url)} has no score for {args.quarter} or before"
            )
        source = (
            f"prediction log {redacted(url)}: each lead's latest score made before its close, joined with "
            "the outcomes the CRM posted"
        )
    reference = add_segments(read_table(args.reference)) if args.reference else None
    report = build_quarterly_report(
        add_segments(scored),
        args.quarter,
        params,
        reference=reference,
        as_of=args.as_of,
        seed=args.seed,
        source=source,
    )
    written = write_report(report, args.out)
    logger.info("report %s: %s", report.quarter, "; ".join(r.message for r in report.recommendations))
    # The command's output: where the report is.
    print(written["html"])  # noqa: T201
    print(written["json"])  # noqa: T201
    return 0
