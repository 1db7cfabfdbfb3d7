"""The validation gate before training: every problem of an export, one readable line each.

The gate runs after ``pull`` and before ``featurize``. It never stops at the first problem: a RevOps user
fixing an export wants the whole list (duplicate ids *and* unknown statuses *and* a leaky column) from one
run. The entry point (pipelines/validate.py) writes the report and turns a failed gate into a non-zero exit,
which is what keeps DVC from training (and the champion alias from moving) on bad data.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence
from typing import Any

import pandas as pd

from leadscore.core import canonical
from leadscore.core.params import Mapping, ValidateParams
from leadscore.validation import expectations as ex
from leadscore.validation.leakage import LeakSuspect, detect_leakage
from leadscore.validation.report import ValidationFailure, ValidationReport

logger = logging.getLogger(__name__)

# Their not-null expectation already reports the parse failures of the same column (one cause, one line).
_NOT_NULL_COLUMNS = (canonical.LEAD_ID, canonical.CREATED_AT, canonical.OUTCOME)
# Checks that guard a column's fitness *as a feature*. A column the leakage detector keeps out of the features
# (excluded, or a gate failure of its own) never reaches the model, so these say nothing about the training
# data: an outcome-only column is typically empty for most leads (Olist's closed-deal columns, 99 % missing).
_FEATURE_CHECKS = ("missing_rate", "range", "category_set")


def validate_leads(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    pull_summary: AbcMapping[str, Any] | None,
    params: ValidateParams,
    *,
    mapping: Mapping | None = None,
    allow_leaky: Sequence[str] | None = None,
    as_of_offset_days: int = 14,
    seed: int = 0,
    current_year: int | None = None,
) -> ValidationReport:
    """Check canonical leads (and activities) before training; collect every problem.

    Args:
        leads: data/interim/leads.parquet as read.
        activities: data/interim/activities.parquet as read (None when there is no activity log).
        pull_summary: pull_summary.json as read (parse failures, unknown statuses); None when absent.
        params: ``validate`` section of params.yaml.
        mapping: ``source.mapping``: its mapped roles must exist; ``allow_leaky`` is the default allow list.
        allow_leaky: overrides ``mapping.allow_leaky``.
        as_of_offset_days: scoring moment after creation (``base.as_of_offset_days``), for leakage timing.
        seed: fold assignment of the leakage detector (``base.seed``).
        current_year: upper bound of founded_year (default: this year).

    Returns:
        The report; ``success`` is False when anything stops training. Never raises for bad data. Blocking
        leakage suspects are failures with ``validate.leakage.action: stop``; with ``exclude`` (the default)
        they are listed in ``report.excluded`` for featurize to drop.
    """
    started = time.perf_counter()
    failures: list[ValidationFailure] = []
    warnings: list[str] = []
    counts: dict[str, Any] = {"rows": int(len(leads)), "columns": int(leads.shape[1])}
    gx_results: dict[str, Any] = {}
    suspects: list[LeakSuspect] = []
    excluded: list[LeakSuspect] = []
    summary_leads, summary_activities = _summary_sections(pull_summary)

    if leads.shape[1] == 0 or len(leads) == 0:
        what = "no columns" if leads.shape[1] == 0 else "0 rows"
        failures.append(ValidationFailure("min_rows", "leads", f"{what}: the export is empty", 0))
        return _finish(started, failures, warnings, counts, gx_results, suspects)

    failures.extend(_timestamp_kinds(leads, ex.TIMESTAMP_COLUMNS, "")[0])
    kinds = ex.column_kinds(leads)
    latest = _latest_time(pull_summary)
    suite = ex.build_suite(kinds, params, mapping=mapping, current_year=current_year, latest_time=latest)
    parse_failures = {str(k): int(v) for k, v in (summary_leads.get("parse_failures") or {}).items()}
    parse_examples = {str(k): str(v) for k, v in (summary_leads.get("parse_examples") or {}).items()}
    result = _run(leads, suite, "leads", failures)
    if result is not None:
        gx_results["leads"] = result.describe_dict()
        failures.extend(
            ex.failures_from_result(
                result, leads, parse_failures=parse_failures, parse_examples=parse_examples
            )
        )
    reported = {f.column for f in failures if f.check == "not_null"}
    for column, n in parse_failures.items():
        if n and not (column in _NOT_NULL_COLUMNS and column in reported):
            example = ex.examples_text([parse_examples[column]]) if column in parse_examples else ""
            failures.append(
                ValidationFailure(
                    "parsed",
                    column,
                    f"{ex.counted(n, 'unparseable value', 'unparseable values')}{example}",
                    n,
                )
            )
    failures.extend(_unknown_outcomes_from_summary(leads, summary_leads))
    failures.extend(_created_after_reference(summary_leads, params, counts, warnings))
    failures.extend(_class_counts(leads, params, counts))

    if activities is None:
        warnings.append("activities: no activity log; intent features will be empty")
        counts["activities"] = 0
    else:
        failures.extend(_check_activities(activities, leads, summary_activities, counts, gx_results, latest))

    if params.leakage.enabled and canonical.LABEL in leads.columns:
        allow = list(allow_leaky if allow_leaky is not None else (mapping.allow_leaky if mapping else []))
        suspects = detect_leakage(leads, activities, params.leakage, allow, as_of_offset_days, seed=seed)
        for suspect in suspects:
            if suspect.fails_gate and params.leakage.action == "exclude":
                excluded.append(suspect)
                warnings.append(f"{suspect.line()} [excluded from the features: validate.leakage.action]")
            elif suspect.fails_gate:
                failures.append(
                    ValidationFailure(
                        "leakage", suspect.name, f"possible leakage ({suspect.kind}): {suspect.evidence}"
                    )
                )
            else:
                why = "allowed by source.mapping.allow_leaky" if suspect.allowed else "not a feature at as_of"
                warnings.append(f"{suspect.line()} [{why}]")
        failures = _drop_feature_checks(failures, {s.name for s in suspects if s.fails_gate}, warnings)
    elif not params.leakage.enabled:
        warnings.append("leakage detector disabled (validate.leakage.enabled: false)")
    if mapping is not None:
        names = export_names(mapping)
        failures = [dataclasses.replace(f, export_column=names.get(f.column)) for f in failures]
    return _finish(started, failures, warnings, counts, gx_results, suspects, excluded)


def export_names(mapping: Mapping) -> dict[str, str]:
    """Canonical column -> the export's own column name, for every mapped column (activities prefixed)."""
    names: dict[str, str] = {
        canonical.LEAD_ID: mapping.lead_id,
        canonical.STATUS: mapping.status,
        canonical.OUTCOME: mapping.status,
        canonical.LABEL: mapping.status,
    }
    single = {
        canonical.CREATED_AT: mapping.created_at,
        canonical.CLOSED_AT: mapping.closed_at,
        canonical.FIRST_CONTACT_AT: mapping.first_contact_at,
        canonical.LEAD_SOURCE: mapping.lead_source,
    }
    names.update({role: column for role, column in single.items() if column})
    names.update({**mapping.firmographic, **mapping.bant})
    extras = canonical.extra_column_names(mapping.extra_categorical, mapping.extra_numeric)
    names.update({extra: column for column, extra in extras.items()})
    if mapping.activities is not None:
        activities = mapping.activities
        for role, column in (
            (canonical.ACTIVITY_LEAD_ID, activities.lead_id),
            (canonical.ACTIVITY_AT, activities.occurred_at),
            (canonical.ACTIVITY_TYPE, activities.activity_type),
        ):
            names[f"activities.{role}"] = column
    # A column the export already calls by its canonical name needs no second name (label and outcome are
    # derived from status: named only when status is called something else).
    derived_from = {canonical.LABEL: canonical.STATUS, canonical.OUTCOME: canonical.STATUS}
    return {
        name: column
        for name, column in names.items()
        if column != derived_from.get(name, name.removeprefix("activities."))
    }


def _drop_feature_checks(
    failures: list[ValidationFailure], kept_out: set[str], warnings: list[str]
) -> list[ValidationFailure]:
    """Drop feature-fitness failures (missing rate, range, set) of columns the leakage detector keeps out.

    Allowed suspects stay features, so their checks stand; a dropped failure is kept as a warning line.
    """
    kept = []
    for failure in failures:
        if failure.check in _FEATURE_CHECKS and failure.column in kept_out:
            warnings.append(f"{failure.line} [ignored: a leakage suspect, kept out of the features]")
        else:
            kept.append(failure)
    return kept


def unreadable_report(column: str, message: str) -> ValidationReport:
    """A failed report for an input that could not be read at all (empty or corrupt file)."""
    return ValidationReport(success=False, failures=[ValidationFailure("readable", column, message)])


# ---- pieces ------------------------------------------------------------------------------------------------
def _finish(
    started: float,
    failures: list[ValidationFailure],
    warnings: list[str],
    counts: dict[str, Any],
    gx_results: dict[str, Any],
    suspects: list[LeakSuspect],
    excluded: list[LeakSuspect] | None = None,
) -> ValidationReport:
    report = ValidationReport(
        success=not failures,
        failures=failures,
        warnings=warnings,
        counts=counts,
        leak_suspects=suspects,
        excluded=list(excluded or []),
        gx=gx_results,
        elapsed_seconds=time.perf_counter() - started,
    )
    logger.info(
        "validation %s: %d failures, %d warnings in %.2f s",
        "passed" if report.success else "failed",
        len(failures),
        len(warnings),
        report.elapsed_seconds,
    )
    return report


def _summary_sections(summary: AbcMapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(leads section, activities section) of pull_summary.json; tolerant of a flat summary."""
    if not summary:
        return {}, {}
    leads_part = summary.get("leads")
    leads_section = dict(leads_part) if isinstance(leads_part, AbcMapping) else dict(summary)
    activities_part = summary.get("activities")
    return leads_section, dict(activities_part) if isinstance(activities_part, AbcMapping) else {}


def _latest_time(summary: AbcMapping[str, Any] | None) -> pd.Timestamp | None:
    """Latest plausible timestamp: pull_summary.json's ``pulled_at`` plus the tolerance (None if unknown)."""
    pulled_at = (summary or {}).get("pulled_at")
    return None if not pulled_at else pd.Timestamp(pulled_at) + ex.TIME_TOLERANCE


def _run(frame: pd.DataFrame, suite: Any, name: str, failures: list[ValidationFailure]) -> Any:
    """Run a GX suite; an internal GX error becomes a failure line instead of a traceback."""
    try:
        return ex.run_suite(frame, suite, name)
    except Exception as exc:  # GX raises many types; the user needs the gate's verdict, not its internals
        logger.debug("GX failed on %s", name, exc_info=True)
        message = (
            f"Great Expectations could not validate the table: {type(exc).__name__}: {exc}".splitlines()[0]
        )
        failures.append(ValidationFailure("gx", name, message[:300]))
        return None


def _timestamp_kinds(
    frame: pd.DataFrame, columns: Sequence[str], prefix: str
) -> tuple[list[ValidationFailure], list[str]]:
    """Timestamp columns must hold timestamps, not text (pull parses them; a hand-made file may not)."""
    failures = []
    good = []
    for column in columns:
        if column not in frame.columns:
            continue
        if frame[column].dtype.kind == "M":
            good.append(column)
        else:
            failures.append(
                ValidationFailure(
                    "dtype", f"{prefix}{column}", f"not parsed as timestamps (dtype {frame[column].dtype})"
                )
            )
    return failures, good


def _unknown_outcomes_from_summary(
    leads: pd.DataFrame, summary: AbcMapping[str, Any]
) -> list[ValidationFailure]:
    """Unknown statuses the pull counted but that are not in the frame (e.g. dropped): still a failure."""
    n = int((summary.get("outcome_counts") or {}).get("unknown", 0) or 0)
    if not n:
        return []
    if (
        canonical.OUTCOME in leads.columns
        and (~leads[canonical.OUTCOME].isin(canonical.OUTCOME_VALUES)).any()
    ):
        return []  # the GX outcome expectation already reported them, with examples from the frame
    values = list((summary.get("unknown_status_values") or {}).keys())
    return [
        ValidationFailure(
            "outcome_known",
            canonical.OUTCOME,
            f"{ex.counted(n, 'unknown status value', 'unknown status values')}{ex.examples_text(values)}",
            n,
        )
    ]


def _created_after_reference(
    summary_leads: AbcMapping[str, Any], params: ValidateParams, counts: dict[str, Any], warnings: list[str]
) -> list[ValidationFailure]:
    """Leads the pull left out because they were created after the pinned reference time: too many stop."""
    n = int(summary_leads.get("created_after_reference") or 0)
    if not n:
        return []
    rows_in = int(summary_leads.get("rows_in") or 0)
    rate = n / rows_in if rows_in else 1.0
    counts["created_after_reference"] = n
    examples = ex.examples_text([str(v) for v in summary_leads.get("created_after_reference_examples") or []])
    text = (
        f"{ex.counted(n, 'lead', 'leads')} ({rate:.1%} of the export) created after "
        f"source.label.reference_time {summary_leads.get('reference_time')}{examples}"
    )
    if rate > params.max_created_after_reference_rate:
        limit = params.max_created_after_reference_rate
        return [
            ValidationFailure(
                "created_after_reference",
                canonical.CREATED_AT,
                f"{text}: more than validate.max_created_after_reference_rate ({limit:.1%}); fix the "
                "dates or the reference time",
                n,
            )
        ]
    warnings.append(f"{canonical.CREATED_AT}: {text}; left out of training")
    return []


def _class_counts(
    leads: pd.DataFrame, params: ValidateParams, counts: dict[str, Any]
) -> list[ValidationFailure]:
    """Enough conversions and non-conversions to learn and to calibrate."""
    if canonical.LABEL not in leads.columns:
        return []
    label = pd.to_numeric(leads[canonical.LABEL], errors="coerce")
    won, lost = int((label == 1).sum()), int((label == 0).sum())
    counts.update({"conversions": won, "non_conversions": lost})
    if won + lost:
        counts["base_rate"] = round(won / (won + lost), 4)
    if canonical.OUTCOME in leads.columns:
        counts["outcomes"] = {
            str(k): int(v) for k, v in leads[canonical.OUTCOME].value_counts(dropna=False).items()
        }
    failures = []
    if won < params.min_conversions:
        failures.append(
            ValidationFailure(
                "min_conversions",
                "label",
                f"{ex.counted(won, 'conversion', 'conversions')} (min {params.min_conversions})",
                won,
            )
        )
    if lost < params.min_non_conversions:
        failures.append(
            ValidationFailure(
                "min_non_conversions",
                "label",
                f"{ex.counted(lost, 'non-conversion', 'non-conversions')} (min {params.min_non_conversions})",
                lost,
            )
        )
    return failures


def _check_activities(
    activities: pd.DataFrame,
    leads: pd.DataFrame,
    summary: AbcMapping[str, Any],
    counts: dict[str, Any],
    gx_results: dict[str, Any],
    latest_time: pd.Timestamp | None = None,
) -> list[ValidationFailure]:
    """Activity log: columns, parsed timestamps, filled types, only known leads; pull's dropped rows."""
    failures: list[ValidationFailure] = []
    counts["activities"] = int(len(activities))
    parse_failures = {str(k): int(v) for k, v in (summary.get("parse_failures") or {}).items()}
    parse_examples = {str(k): str(v) for k, v in (summary.get("parse_examples") or {}).items()}
    for column, n in parse_failures.items():
        if n:
            example = ex.examples_text([parse_examples[column]]) if column in parse_examples else ""
            failures.append(
                ValidationFailure(
                    "parsed",
                    f"activities.{column}",
                    ex.counted(n, "unparseable value", "unparseable values")
                    + f", rows dropped by pull{example}",
                    n,
                )
            )
    unreadable = int(summary.get("dropped_unreadable", 0) or 0) - sum(parse_failures.values())
    if unreadable > 0:
        failures.append(
            ValidationFailure(
                "not_null",
                "activities",
                ex.counted(unreadable, "row", "rows") + " without lead id or activity type, dropped by pull",
                unreadable,
            )
        )
    if len(activities) == 0:
        return failures  # an empty log is allowed: the model then has no intent features

    kind_failures, _ = _timestamp_kinds(activities, [canonical.ACTIVITY_AT], "activities.")
    failures.extend(kind_failures)
    suite = ex.build_activity_suite(ex.column_kinds(activities), latest_time)
    result = _run(activities, suite, "activities", failures)
    if result is not None:
        gx_results["activities"] = result.describe_dict()
        failures.extend(ex.failures_from_result(result, activities))
    if canonical.ACTIVITY_TYPE in activities.columns:
        types = activities[canonical.ACTIVITY_TYPE]
        distinct = pd.Series(types.dropna().unique())
        blank_values = set(distinct[distinct.astype("str").str.strip().eq("")])
        if blank_values:
            n_blank = int(types.isin(blank_values).sum())
            failures.append(
                ValidationFailure(
                    "not_blank",
                    f"activities.{canonical.ACTIVITY_TYPE}",
                    f"{ex.counted(n_blank, 'empty value', 'empty values')}",
                    n_blank,
                )
            )
    if canonical.ACTIVITY_LEAD_ID in activities.columns and canonical.LEAD_ID in leads.columns:
        known_ids = pd.Index(leads[canonical.LEAD_ID].drop_duplicates())
        unknown = pd.Series(
            known_ids.get_indexer(activities[canonical.ACTIVITY_LEAD_ID]) < 0, index=activities.index
        )
        n_unknown = int(unknown.sum())
        counts["activities_unknown_lead"] = n_unknown
        if n_unknown:
            ids = ex.examples_text(list(activities.loc[unknown, canonical.ACTIVITY_LEAD_ID].head(20)))
            failures.append(
                ValidationFailure(
                    "known_lead",
                    "activities.lead_id",
                    f"{ex.counted(n_unknown, 'activity of', 'activities of')} unknown leads{ids}",
                    n_unknown,
                )
            )
    if canonical.ACTIVITY_TYPE in activities.columns:
        counts["activity_types"] = int(activities[canonical.ACTIVITY_TYPE].nunique())
    return failures
