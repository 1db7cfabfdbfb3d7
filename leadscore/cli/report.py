"""``leadscore report --quarter 2026Q3``: the quarterly model review (HTML + JSON) from scored leads.

Two sources, as RevOps has them:

* the scoring service's prediction log joined with the outcomes the CRM posted back (the default: the
  service's own ``database_url`` setting, i.e. ``LEADSCORE_DATABASE_URL``, or ``--database-url``), or
* a batch-scored file (``--scored FILE``: the output of ``leadscore score``, CSV or Parquet) with the CRM
  export it was scored from (``--outcomes FILE``): joined on lead_id, the export gives each lead's
  created_at (its cohort), status or outcome and closed_at, plus the segment columns. Statuses are read
  with ``--params``' ``source.label`` won / lost / open values (default: those words), as the pull stage
  reads them; a status that is none of them stops the command. An outcome counts only once it is closed by
  the report's as_of moment.

The DVC ``report`` stage builds the same report from the pipeline's own data (pipelines/report.py), and the
service answers it on ``GET /v1/report`` (serving/routes/report.py).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import ConfigError, SourceError
from leadscore.core.params import BandParams, LabelPolicy, Mapping, ReportParams, load_params
from leadscore.core.urls import redact_url
from leadscore.reporting.quarterly import SCORED_AT, build_quarterly_report, parse_quarter
from leadscore.reporting.render import write_report
from leadscore.reporting.segments import add_segments

logger = logging.getLogger(__name__)

# Scoring-time columns a scores file may carry (``leadscore score`` writes none: the export's created_at is
# the cohort time then).
SCORE_TIME_COLUMNS = (SCORED_AT, "as_of")
# What the --outcomes export contributes; everything else in it (contact fields, free text) stays out.
OUTCOME_COLUMNS = (
    canonical.CREATED_AT,
    canonical.CLOSED_AT,
    canonical.FIRST_CONTACT_AT,
    canonical.OUTCOME,
    canonical.STATUS,
    canonical.LABEL,
)


# The prediction store's databases (the service's database_url setting accepts the same).
LOG_BACKENDS = ("sqlite", "postgresql")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sub-command's options."""
    parser.add_argument("--quarter", required=True, help="report quarter, e.g. 2026Q3")
    parser.add_argument(
        "--scored",
        type=Path,
        help="CSV or Parquet from `leadscore score` (lead_id, probability, band, is_mql, is_sql; optional "
        "scored_at or created_at, outcome or label, closed_at, segment columns); default: read the "
        "prediction log instead",
    )
    parser.add_argument(
        "--outcomes",
        type=Path,
        help="with --scored: the CRM export the scores came from, joined on lead_id; read in its own column "
        "names through the --params source.mapping (without --params: lead_id, created_at, status or "
        "outcome, closed_at), statuses through its source.label won/lost/open values",
    )
    parser.add_argument(
        "--database-url",
        help="prediction log SQLAlchemy URL (default: the service's setting, $LEADSCORE_DATABASE_URL)",
    )
    parser.add_argument(
        "--reference", type=Path, help="optional drift baseline (e.g. data/reference/reference.parquet)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/quarterly"), help="output directory")
    parser.add_argument(
        "--params",
        type=Path,
        help="params.yaml whose `report`, `bands` and `source.label` sections to use (default: defaults)",
    )
    parser.add_argument(
        "--as-of", dest="as_of", help="knowledge time of the report (default: latest timestamp in the data)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def database_url(explicit: str | None) -> str:
    """The prediction log: ``--database-url``, else the service's own setting (one default, one loader).

    An explicit URL is checked on its own: loading the service's settings would validate every LEADSCORE_*
    variable (a model URI the report never uses could stop it) and name the environment variable in the error.
    """
    if explicit is None:
        from leadscore.serving.settings import load_settings

        return load_settings().database_url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(explicit).get_backend_name()
    except ArgumentError:
        raise ConfigError("--database-url: is not a SQLAlchemy URL (e.g. sqlite:///predictions.db)") from None
    if backend not in LOG_BACKENDS:
        raise ConfigError(f"--database-url: backend {backend!r} is not supported (sqlite or postgresql)")
    return explicit


def read_prediction_log(url: str, quarter: str, params: ReportParams, bands: BandParams) -> pd.DataFrame:
    """The report quarter and the ``quarters_shown - 1`` before it from the prediction log at ``url``."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from leadscore.models.bands import BandScheme
    from leadscore.reporting.prediction_log import log_window, report_input
    from leadscore.serving.store import PredictionStore

    parsed = make_url(url)  # validated by database_url()
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        if not Path(database).exists():  # SQLite would create an empty file and report "no such table"
            raise SourceError(
                f"no prediction log at {database} (start the service with `leadscore serve`, set "
                "LEADSCORE_DATABASE_URL or --database-url, or pass a batch-scored file with --scored)"
            )
    # Thresholds are not needed: the flags come from the logged band names.
    scheme = BandScheme(tuple(bands.band_shares), (), bands.mql_band, bands.sql_band)
    store = PredictionStore.open(url, migrate=False)
    try:
        return report_input(store.report_scores(*log_window(quarter, params)), scheme)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SourceError(f"cannot read the prediction log at {redact_url(url)}: {reason}") from None
    finally:
        store.close()


def export_outcomes(status: pd.Series, label: LabelPolicy, where: str) -> pd.Series:
    """The export's statuses as won / lost / open (missing when blank), read as the pull stage reads them.

    Raises:
        SourceError: a status is none of the label policy's won / lost / open values (a CRM's own wording,
            such as "Closed Won", needs ``--params`` with its ``source.label``); reading it as unknown would
            leave the report without outcomes and still say all is well.
    """
    from leadscore.crm.mapping import OUTCOME_UNKNOWN, status_outcomes

    outcome = status_outcomes(status, label)
    present = status.notna() & status.astype("str").str.strip().ne("")
    unknown = present & (outcome == OUTCOME_UNKNOWN)
    if unknown.any():
        values = sorted(status[unknown].astype("str").str.strip().unique())
        shown = ", ".join(repr(v) for v in values[:10]) + (
            f" (+{len(values) - 10} more)" if len(values) > 10 else ""
        )
        raise SourceError(
            f"{where}: status values {shown} are none of source.label's won {label.won_values}, lost "
            f"{label.lost_values} or open {label.open_values} (pass --params with the CRM's values)"
        )
    return outcome.where(present)


def read_scored(
    scored_path: Path,
    outcomes_path: Path | None,
    segment_columns: list[str] | None = None,
    label: LabelPolicy | None = None,
    mapping: Mapping | None = None,
) -> pd.DataFrame:
    """A ``leadscore score`` file, joined on lead_id with the export's creation time, outcome and segments.

    The export is read in its own column names through ``mapping`` (``source.mapping`` of the params the
    model was trained with: the same mapping ``pull`` and ``leadscore score`` use), so ``CreatedDate`` or
    ``Stage`` need no renaming; without a mapping it must carry canonical names. The status becomes the
    outcome through ``label`` (``source.label``, default won / lost / open); a canonical ``outcome`` column
    is taken as it is.
    """
    from leadscore.crm.sources import read_table_file

    scored = read_table_file(scored_path)
    if canonical.LEAD_ID not in scored.columns:
        raise SourceError(f"{scored_path} has no {canonical.LEAD_ID} column")
    scored[canonical.LEAD_ID] = scored[canonical.LEAD_ID].astype("string")
    scored = scored.rename(columns={"as_of": SCORED_AT}) if SCORED_AT not in scored.columns else scored
    if outcomes_path is not None:
        export = read_table_file(outcomes_path)
        if mapping is not None and canonical.OUTCOME not in export.columns:
            from leadscore.crm.mapping import map_leads

            # No label policy here (require_outcome=False): the report judges maturity itself.
            mapped = map_leads(
                export, mapping, label or LabelPolicy(), require_outcome=False, strict_columns=False
            )
            export = mapped.leads
            # Unreadable values (a 9999-12-31 placeholder close date) count as missing: say so, not silently.
            for column, n in mapped.report.parse_failures.items():
                example = mapped.report.parse_examples.get(column, "")
                logger.warning(
                    "%s: %d %s values could not be read and count as missing (e.g. %r)",
                    outcomes_path.name,
                    n,
                    column,
                    example,
                )
            where = f"{outcomes_path} column {mapping.status!r}"
        else:
            where = f"{outcomes_path} column {canonical.STATUS!r}"
        if canonical.LEAD_ID not in export.columns:
            raise SourceError(f"{outcomes_path} has no {canonical.LEAD_ID} column")
        if canonical.OUTCOME not in export.columns and canonical.STATUS in export.columns:
            export[canonical.OUTCOME] = export_outcomes(
                export[canonical.STATUS], label or LabelPolicy(), where
            )
        wanted = [*OUTCOME_COLUMNS, *(segment_columns or [])]
        keep = [c for c in dict.fromkeys(wanted) if c in export.columns and c not in scored.columns]
        export = export[[canonical.LEAD_ID, *keep]].drop_duplicates(canonical.LEAD_ID, keep="last")
        export[canonical.LEAD_ID] = export[canonical.LEAD_ID].astype("string")
        if not scored[canonical.LEAD_ID].isin(export[canonical.LEAD_ID]).any():
            raise SourceError(
                f"no lead of {scored_path} is in {outcomes_path} (joined on {canonical.LEAD_ID})"
            )
        scored = scored.merge(export, on=canonical.LEAD_ID, how="left", validate="many_to_one")
    if not any(c in scored.columns for c in (SCORED_AT, canonical.CREATED_AT)):
        raise SourceError(
            f"{scored_path} has no scored_at or created_at column: pass the CRM export it was scored from "
            "with --outcomes (lead_id, created_at, status, closed_at)"
        )
    return scored


def run(args: argparse.Namespace) -> int:
    """Build and write the report; returns the exit code."""
    loaded = load_params(args.params) if args.params else None
    params = loaded.report if loaded else ReportParams()
    bands = loaded.bands if loaded else BandParams()
    parse_quarter(args.quarter)  # a typo stops here, before anything is read
    if args.outcomes and not args.scored:
        raise ConfigError("--outcomes goes with --scored (the prediction log has the posted outcomes)")
    if args.scored:
        scored = read_scored(
            args.scored,
            args.outcomes,
            params.segment_columns,
            label=loaded.source.label if loaded else None,
            mapping=loaded.source.mapping if loaded else None,
        )
        source = f"batch-scored file {args.scored.name}" + (
            f" joined with the outcomes of {args.outcomes.name}" if args.outcomes else ""
        )
    else:
        url = database_url(args.database_url)
        scored = read_prediction_log(url, args.quarter, params, bands)
        if scored.empty:
            raise SourceError(
                f"the prediction log at {redact_url(url)} has no score for {args.quarter} or before"
            )
        source = (
            f"prediction log {redact_url(url)}: each lead's latest score made before its close, joined with "
            "the outcomes the CRM posted"
        )
    reference = None
    if args.reference:
        from leadscore.crm.sources import read_table_file

        reference = add_segments(read_table_file(args.reference))
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
