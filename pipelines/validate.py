"""DVC stage ``validate``: the gate between the canonical export and training.

Inputs (from ``pull``): data/interim/leads.parquet, activities.parquet, pull_summary.json.
Outputs (reports/validation, always written, also on failure):
    summary.json: success, one line per failure, warnings, counts, leakage suspects.
    gx_result.json: the Great Expectations results (describe_dict per suite).
    summary.html: a small self-contained page for people.

On failure every problem is logged and the stage exits 2 with one summary line on stderr, so DVC never reaches
``featurize``/``train`` and the registered champion stays untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from leadscore.core.errors import DataValidationError, LeakageError, SourceError
from leadscore.core.params import Params
from leadscore.pipelines._entry import read_stage_parquet, run_stage, stage_arguments

if TYPE_CHECKING:
    from leadscore.validation.report import ValidationReport

logger = logging.getLogger(__name__)

IN_DIR = Path("data/interim")
OUT_DIR = Path("reports/validation")


def run_validation(params: Params, in_dir: Path = IN_DIR, out_dir: Path = OUT_DIR) -> ValidationReport:
    """Read the interim data, run the gate and write the reports; returns the ValidationReport (never raises).

    Unreadable inputs (an empty or corrupt file) are failures of the report, not tracebacks.
    """
    # Imported here so that `--help` and argument errors do not pay for the Great Expectations import.
    from leadscore.validation.gate import unreadable_report, validate_leads
    from leadscore.validation.report import ValidationFailure

    leads, leads_problem = _read_parquet(in_dir / "leads.parquet")
    activities, activities_problem = _read_parquet(in_dir / "activities.parquet")
    summary, summary_problem = _read_summary(in_dir / "pull_summary.json")
    if leads is None:
        report = unreadable_report("leads", leads_problem or "unreadable")
    else:
        report = validate_leads(
            leads,
            activities,
            summary,
            params.validate_,
            mapping=params.source.mapping,
            as_of_offset_days=params.base.as_of_offset_days,
            seed=params.base.seed,
        )
    if activities_problem and (in_dir / "activities.parquet").exists():
        report.failures.insert(0, ValidationFailure("readable", "activities", activities_problem))
        report.success = False
    elif activities_problem:
        report.warnings.append(f"activities: {activities_problem}")
    if summary_problem:
        report.warnings.append(
            f"pull_summary: {summary_problem}; parse failures and unknown statuses not checked"
        )
    write_reports(report, out_dir)
    return report


def write_reports(report: ValidationReport, out_dir: Path) -> None:
    """Write summary.json, gx_result.json and summary.html (replacing earlier ones)."""
    from leadscore.validation.report import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(report.to_json())
    (out_dir / "gx_result.json").write_text(report.gx_json())
    (out_dir / "summary.html").write_text(render_html(report))
    logger.info("validation reports written to %s", out_dir)


def validate(params: Params, in_dir: Path = IN_DIR, out_dir: Path = OUT_DIR) -> ValidationReport:
    """Run the gate; raise a domain error with one summary line when it fails.

    Raises:
        LeakageError: the only problems are leakage suspects not in ``source.mapping.allow_leaky`` (only with
            ``validate.leakage.action: stop``; ``exclude`` drops them from the features instead).
        DataValidationError: any other problem (the message lists them).
    """
    report = run_validation(params, in_dir, out_dir)
    for warning in report.warnings:
        logger.warning("validate: %s", warning)
    if not report.success:
        for line in report.lines:
            logger.error("validate: %s", line)
        error = LeakageError if report.only_leakage else DataValidationError
        raise error(report.summary_line())
    if report.excluded:
        logger.warning(
            "validate: leakage suspects excluded from the features (validate.leakage.action: exclude): %s",
            ", ".join(report.excluded_names),
        )
    logger.info("validate: %s", report.summary_line())
    return report


def _read_parquet(path: Path) -> tuple[pd.DataFrame | None, str | None]:
    """(frame, None) or (None, readable problem): the gate reports an unreadable input instead of raising."""
    if path.exists() and path.stat().st_size == 0:
        return None, f"{path} is empty (0 bytes): re-run the pull stage"
    try:
        return read_stage_parquet(path), None
    except SourceError as exc:
        return None, str(exc)


def _read_summary(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    if not path.exists():
        return None, f"{path} not found"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{path} is not valid JSON ({exc})"
    if not isinstance(data, dict):
        return None, f"{path} is not a JSON object"
    return data, None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m leadscore.pipelines.validate``."""
    args = stage_arguments(
        "leadscore.pipelines.validate",
        __doc__,
        [("inputs", IN_DIR, "directory of the pull outputs"), ("out", OUT_DIR, "report directory")],
        argv,
    )

    def body(params: Params) -> None:
        validate(params, args.inputs, args.out)

    run_stage("validate", body, params_path=args.params)


if __name__ == "__main__":
    main()
