"""``leadscore report``: build the quarterly model review from a file of scored leads with their outcomes.

RevOps exports the leads the model scored (``leadscore score`` output joined with the CRM's outcomes) as CSV
or Parquet; this command turns them into the self-contained HTML report and its JSON twin. The DVC ``report``
stage does the same from the pipeline's own data (pipelines/report.py).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from leadscore.errors import SourceError
from leadscore.params import ReportParams, load_params
from leadscore.reporting.quarterly import build_quarterly_report
from leadscore.reporting.render import write_report

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sub-command's options."""
    parser.add_argument(
        "--scored",
        type=Path,
        required=True,
        help="CSV or Parquet of scored leads: lead_id, probability, scored_at or created_at, label or "
        "outcome, band, is_mql, segment columns",
    )
    parser.add_argument("--quarter", required=True, help="report quarter, e.g. 2025Q2")
    parser.add_argument(
        "--reference", type=Path, help="optional baseline (e.g. data/reference/reference.parquet)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/quarterly"), help="output directory")
    parser.add_argument(
        "--params", type=Path, help="params.yaml whose `report` section to use (default: defaults)"
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


def run(args: argparse.Namespace) -> int:
    """Build and write the report; returns the exit code."""
    params = load_params(args.params).report if args.params else ReportParams()
    scored = read_table(args.scored)
    reference = read_table(args.reference) if args.reference else None
    report = build_quarterly_report(
        scored, args.quarter, params, reference=reference, as_of=args.as_of, seed=args.seed
    )
    written = write_report(report, args.out)
    logger.info("report %s: %s", report.quarter, "; ".join(r.message for r in report.recommendations))
    logger.info("wrote %s", written["html"])
    return 0
