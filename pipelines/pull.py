"""DVC stage ``pull``: read the CRM export and write canonical leads and activities to data/interim.

Outputs:
    data/interim/leads.parquet: canonical leads with outcome and label (immature leads removed, no PII).
    data/interim/activities.parquet: canonical activity log of those leads (may be empty).
    data/interim/pull_summary.json: row counts, outcome counts, parse failures, dropped leads. The validate
        stage turns parse failures and unknown statuses into readable expectation failures.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from leadscore import schema
from leadscore.crm.mapping import map_activities, map_leads
from leadscore.crm.sources import read_export
from leadscore.params import ActivityMapping, Params

logger = logging.getLogger(__name__)

OUT_DIR = Path("data/interim")


def pull(params: Params, out_dir: Path = OUT_DIR) -> dict[str, object]:
    """Read, map and write the export; returns the summary that is also written as JSON."""
    source = params.source
    raw_leads, raw_activities = read_export(
        source, params.simulate, seed=params.base.seed, as_of_offset_days=params.base.as_of_offset_days
    )
    mapped = map_leads(raw_leads, source.mapping, source.label)
    leads = mapped.leads
    activities, activity_report = map_activities(
        raw_activities, source.mapping.activities or ActivityMapping()
    )
    known_ids = set(leads[schema.LEAD_ID].dropna())
    # Activities of leads that were dropped (immature) or never existed are not needed downstream.
    in_leads = activities[schema.ACTIVITY_LEAD_ID].isin(known_ids)
    activities = activities.loc[in_leads].reset_index(drop=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    leads.to_parquet(out_dir / "leads.parquet", index=False)
    activities.to_parquet(out_dir / "activities.parquet", index=False)
    label_counts = leads[schema.LABEL].value_counts(dropna=False) if schema.LABEL in leads else None
    summary: dict[str, object] = {
        "source_kind": source.kind,
        "leads": mapped.report.as_dict(),
        "label_counts": {str(k): int(v) for k, v in label_counts.items()} if label_counts is not None else {},
        "base_rate": float(leads[schema.LABEL].mean()) if len(leads) and schema.LABEL in leads else None,
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


def main() -> None:
    """Entry point for ``python -m pipelines.pull``."""
    from pipelines._entry import run_stage

    def body(params: Params) -> None:
        pull(params)

    run_stage("pull", body)


if __name__ == "__main__":
    main()
