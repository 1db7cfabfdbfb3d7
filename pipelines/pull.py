"""DVC stage ``pull``: read the CRM export and write canonical leads and activities to data/interim.

Outputs:
    data/interim/leads.parquet: canonical leads with outcome and label (immature leads removed, no PII).
    data/interim/activities.parquet: canonical activity log of those leads (may be empty).
    data/interim/pull_summary.json: row counts, outcome counts, parse failures, dropped leads and
        ``pulled_at``. The validate stage turns parse failures and unknown statuses into readable expectation
        failures, and rejects timestamps later than ``pulled_at``.

The pull time is the maturity reference (``source.label.reference_time`` overrides it): a lead is judged by
its age when the export was taken, never by the newest created_at in it, which one bogus future date would
move. A simulated export has its own clock (``simulate.start`` may lie in the future), so its export time is
its pull time.

For file and SQL sources the pull time is the wall clock, so the labels depend on the day the stage runs:
the same export pulled a month later has more leads old enough to count (their open ones become lost) and
so different labels, a different model and different metrics. For reproducible runs (a DVC experiment, a
re-run of last quarter's training, CI) pin ``source.label.reference_time`` to the moment the export was
taken (configs/olist.yaml does; configs/README.md explains).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from leadscore.core import canonical
from leadscore.core.params import ActivityMapping, Params
from leadscore.crm.mapping import map_activities, map_leads
from leadscore.crm.simulator import export_time
from leadscore.crm.sources import read_export

logger = logging.getLogger(__name__)

OUT_DIR = Path("data/interim")


def pull(params: Params, out_dir: Path = OUT_DIR, now: pd.Timestamp | None = None) -> dict[str, object]:
    """Read, map and write the export; returns the summary that is also written as JSON.

    Args:
        params: the parsed params.yaml.
        out_dir: where the canonical tables and the summary go.
        now: the pull time for files / sql sources (naive UTC; default: the clock).
    """
    source = params.source
    raw_leads, raw_activities = read_export(
        source, params.simulate, seed=params.base.seed, as_of_offset_days=params.base.as_of_offset_days
    )
    pulled_at = pull_time(params, now)
    mapped = map_leads(raw_leads, source.mapping, source.label, reference_time=pulled_at)
    leads = mapped.leads
    activities, activity_report = map_activities(
        raw_activities, source.mapping.activities or ActivityMapping()
    )
    known_ids = set(leads[canonical.LEAD_ID].dropna())
    # Activities of leads that were dropped (immature) or never existed are not needed downstream.
    in_leads = activities[canonical.ACTIVITY_LEAD_ID].isin(known_ids)
    activities = activities.loc[in_leads].reset_index(drop=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    leads.to_parquet(out_dir / "leads.parquet", index=False)
    activities.to_parquet(out_dir / "activities.parquet", index=False)
    label_counts = leads[canonical.LABEL].value_counts(dropna=False) if canonical.LABEL in leads else None
    summary: dict[str, object] = {
        "source_kind": source.kind,
        "pulled_at": pulled_at.isoformat(),
        "leads": mapped.report.as_dict(),
        "label_counts": {str(k): int(v) for k, v in label_counts.items()} if label_counts is not None else {},
        "base_rate": float(leads[canonical.LABEL].mean())
        if len(leads) and canonical.LABEL in leads
        else None,
        "activities": {
            **activity_report,
            "rows_written": len(activities),
            "not_in_leads": int((~in_leads).sum()),
        },
        "columns": list(leads.columns),
    }
    (out_dir / "pull_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    logger.info(
        "pull: %d leads (base rate %s), %d activities -> %s",
        len(leads),
        f"{summary['base_rate']:.3f}" if summary["base_rate"] is not None else "n/a",
        len(activities),
        out_dir,
    )
    return summary


def pull_time(params: Params, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """When the export is taken (naive UTC): the simulator's export time, else ``now`` or the clock.

    The clock makes file / SQL labels depend on the day of the run (see the module docstring): pin
    ``source.label.reference_time`` for a reproducible pull.
    """
    if params.source.kind == "simulator":
        return export_time(params.simulate)
    if now is not None:
        return now
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def main() -> None:
    """Entry point for ``python -m leadscore.pipelines.pull``."""
    from leadscore.pipelines._entry import run_stage

    def body(params: Params) -> None:
        pull(params)

    run_stage("pull", body)


if __name__ == "__main__":
    main()
