"""The Great Expectations suites of the gate and the translation of their results into one-line failures.

GX runs the column-level rules (existence, nulls, uniqueness, ranges, sets, missing rates, date order) because
its result JSON is a standard, inspectable artifact. Rules that need both tables or the pull summary (activity
lead ids, class counts, parse failures) are plain pandas in :mod:`leadscore.validation.gate`.

GX 1.x, ephemeral context only: nothing is written to disk, and progress bars are turned off (they would
otherwise flood stderr of every DVC run).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.params import Mapping, ValidateParams
from leadscore.core.timestamps import CLOCK_TOLERANCE, EARLIEST_PLAUSIBLE
from leadscore.validation.report import ValidationFailure

# GX reads this when its context is created; analytics would try the network. Set before GX is imported.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402 - after the analytics switch above
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

logger = logging.getLogger(__name__)
# GX pins this module's logger to INFO at import ("Created temporary directory ... for ephemeral docs site" on
# every context); undo that so the entry point's level for "great_expectations" applies.
logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.NOTSET)

REQUIRED_LEAD_COLUMNS = (canonical.LEAD_ID, canonical.CREATED_AT, canonical.OUTCOME, canonical.LABEL)
ACTIVITY_COLUMNS = (canonical.ACTIVITY_LEAD_ID, canonical.ACTIVITY_AT, canonical.ACTIVITY_TYPE)
TIMESTAMP_COLUMNS = (canonical.CREATED_AT, canonical.CLOSED_AT, canonical.FIRST_CONTACT_AT)
# Plausibility of the numeric roles: canonical.NUMERIC_RANGES; params.validate.numeric_ranges adds/overrides.
_EXAMPLES = 3
# Plausible timestamps: nothing before 1900 (0001-01-01 style placeholders) and nothing after the pull time
# plus a day of slack for time zones and clock skew (a future created_at would distort the maturity rule).
EARLIEST_TIME = EARLIEST_PLAUSIBLE
TIME_TOLERANCE = CLOCK_TOLERANCE


def default_numeric_ranges(current_year: int) -> dict[str, tuple[float | None, float | None]]:
    """Ranges every export must respect: canonical.NUMERIC_RANGES, with founded_year capped at this year.

    Training data can be held to the calendar; the shared table's fixed ceiling is for scoring, whose
    acceptance must not change on New Year's Day.
    """
    low, high = canonical.NUMERIC_RANGES[canonical.FOUNDED_YEAR]
    capped = current_year if high is None else min(high, current_year)
    return {**canonical.NUMERIC_RANGES, canonical.FOUNDED_YEAR: (low, capped)}


def column_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """Column -> numpy dtype kind (``M`` timestamps, ``i``/``u``/``f``/``b`` numbers, ``O`` text)."""
    return {str(c): frame[c].dtype.kind for c in frame.columns}


def _meta(check: str, column: str) -> dict[str, Any]:
    return {"check": check, "column": column}


def build_suite(
    columns: AbcMapping[str, str],
    params: ValidateParams,
    *,
    mapping: Mapping | None = None,
    current_year: int | None = None,
    latest_time: pd.Timestamp | None = None,
) -> gx.ExpectationSuite:
    """Build the leads suite from the columns that are present and the ones the mapping promises.

    Args:
        columns: present column -> dtype kind (see :func:`column_kinds`); type-dependent rules (ranges, date
            order) are only added for columns of the right kind, the gate reports wrong kinds itself.
        params: thresholds and the configured ranges / category sets.
        mapping: the source mapping; its mapped roles must exist as columns.
        current_year: upper bound of founded_year (default: this year).
        latest_time: latest plausible timestamp (pull time + :data:`TIME_TOLERANCE`); None checks the
            lower bound (:data:`EARLIEST_TIME`) only.

    Returns:
        An unsaved GX suite named ``leads``; each expectation carries ``meta`` {check, column}.
    """
    year = current_year or pd.Timestamp.now().year
    # Expectations go in through the constructor: add_expectation() needs an active GX context (global state).
    expectations: list[Any] = []
    add = expectations.append
    E = gx.expectations

    add(E.ExpectTableRowCountToBeBetween(min_value=params.min_rows, meta=_meta("min_rows", "leads")))
    for column in _expected_columns(mapping):
        add(E.ExpectColumnToExist(column=column, meta=_meta("column_exists", column)))

    if canonical.LEAD_ID in columns:
        add(
            E.ExpectColumnValuesToNotBeNull(
                column=canonical.LEAD_ID, meta=_meta("not_null", canonical.LEAD_ID)
            )
        )
        add(E.ExpectColumnValuesToBeUnique(column=canonical.LEAD_ID, meta=_meta("unique", canonical.LEAD_ID)))
    if canonical.CREATED_AT in columns:
        add(
            E.ExpectColumnValuesToNotBeNull(
                column=canonical.CREATED_AT, meta=_meta("not_null", canonical.CREATED_AT)
            )
        )
    if columns.get(canonical.CREATED_AT) == "M" and columns.get(canonical.CLOSED_AT) == "M":
        add(
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=canonical.CLOSED_AT,
                column_B=canonical.CREATED_AT,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                mostly=1.0 - params.max_closed_before_created_rate,
                meta=_meta("closed_after_created", canonical.CLOSED_AT),
            )
        )
    for column in TIMESTAMP_COLUMNS:
        if columns.get(column) == "M":
            add(_time_range(column, column, latest_time))
    if canonical.OUTCOME in columns:
        add(
            E.ExpectColumnValuesToNotBeNull(
                column=canonical.OUTCOME, meta=_meta("not_null", canonical.OUTCOME)
            )
        )
        add(
            E.ExpectColumnValuesToBeInSet(
                column=canonical.OUTCOME,
                value_set=list(canonical.OUTCOME_VALUES),
                meta=_meta("outcome_known", "outcome"),
            )
        )
    if canonical.LABEL in columns:
        add(
            E.ExpectColumnValuesToBeInSet(
                column=canonical.LABEL, value_set=[0, 1], meta=_meta("label_binary", "label")
            )
        )

    ranges = {**default_numeric_ranges(year), **params.numeric_ranges}
    for column, (low, high) in ranges.items():
        if columns.get(column) in ("i", "u", "f") and (low is not None or high is not None):
            add(
                E.ExpectColumnValuesToBeBetween(
                    column=column, min_value=low, max_value=high, meta=_meta("range", column)
                )
            )
    for column, allowed in params.category_sets.items():
        if column in columns:
            add(
                E.ExpectColumnValuesToBeInSet(
                    column=column, value_set=[str(v) for v in allowed], meta=_meta("category_set", column)
                )
            )
    # Missing rate on what may become a feature: a nearly empty column is a broken mapping or enrichment.
    from leadscore.validation.leakage import candidate_feature_columns

    for column in candidate_feature_columns(list(columns)):
        add(
            E.ExpectColumnProportionOfNonNullValuesToBeBetween(
                column=column,
                min_value=max(0.0, 1.0 - params.max_missing_rate),
                meta=_meta("missing_rate", column),
            )
        )
    return gx.ExpectationSuite(name="leads", expectations=expectations)


def _time_range(column: str, name: str, latest_time: pd.Timestamp | None) -> Any:
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=EARLIEST_TIME.to_pydatetime(),
        max_value=None if latest_time is None else pd.Timestamp(latest_time).to_pydatetime(),
        meta=_meta("time_range", name),
    )


def build_activity_suite(
    columns: AbcMapping[str, str], latest_time: pd.Timestamp | None = None
) -> gx.ExpectationSuite:
    """Suite of the activity log: the three columns exist and are filled, times are plausible.

    Blank activity types are checked by the gate on the distinct values instead: a GX regex expectation runs
    a Python call per row (over a second for 1M events).
    """
    E = gx.expectations
    expectations: list[Any] = []
    for column in ACTIVITY_COLUMNS:
        name = f"activities.{column}"
        expectations.append(E.ExpectColumnToExist(column=column, meta=_meta("column_exists", name)))
        if column in columns:
            expectations.append(E.ExpectColumnValuesToNotBeNull(column=column, meta=_meta("not_null", name)))
    if columns.get(canonical.ACTIVITY_AT) == "M":
        expectations.append(
            _time_range(canonical.ACTIVITY_AT, f"activities.{canonical.ACTIVITY_AT}", latest_time)
        )
    return gx.ExpectationSuite(name="activities", expectations=expectations)


def _expected_columns(mapping: Mapping | None) -> list[str]:
    """Required canonical columns plus every role the mapping maps (pull writes them all)."""
    columns = list(REQUIRED_LEAD_COLUMNS)
    if mapping is None:
        return columns
    if mapping.closed_at:
        columns.append(canonical.CLOSED_AT)
    roles = [*mapping.firmographic, *mapping.bant]
    if mapping.lead_source:
        roles.append(canonical.LEAD_SOURCE)
    columns.extend(r for r in roles if r in canonical.ROLE_COLUMNS and r not in columns)
    return columns


def run_suite(frame: pd.DataFrame, suite: gx.ExpectationSuite, name: str) -> Any:
    """Validate a DataFrame against a suite in a fresh ephemeral context, without progress bars.

    Returns:
        The GX ``ExpectationSuiteValidationResult``.
    """
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas(f"{name}_source")
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    return batch.validate(suite)


def failures_from_result(
    result: Any,
    frame: pd.DataFrame,
    *,
    parse_failures: AbcMapping[str, int] | None = None,
    parse_examples: AbcMapping[str, str] | None = None,
) -> list[ValidationFailure]:
    """Turn every unsuccessful expectation into one readable :class:`ValidationFailure`.

    Args:
        result: a GX suite validation result from :func:`run_suite`.
        frame: the validated frame, to pick readable examples (lead ids, raw status values).
        parse_failures: pull's unparseable-value counts per column, folded into the not-null message of the
            same column so one cause gives one line.
        parse_examples: one unparseable raw value per column.
    """
    parse_failures = parse_failures or {}
    parse_examples = parse_examples or {}
    failures = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        meta = config.meta or {}
        check = str(meta.get("check", config.type))
        column = str(meta.get("column", config.kwargs.get("column", "?")))
        res = item.result or {}
        if item.exception_info and item.exception_info.get("raised_exception"):
            message = str(item.exception_info.get("exception_message") or "error").splitlines()[0][:200]
            failures.append(ValidationFailure(check, column, f"check {config.type} could not run: {message}"))
            continue
        count = res.get("unexpected_count")
        message = _message(check, column, config.kwargs, res, frame, parse_failures, parse_examples)
        failures.append(ValidationFailure(check, column, message, None if count is None else int(count)))
    return failures


def _message(
    check: str,
    column: str,
    kwargs: AbcMapping[str, Any],
    res: AbcMapping[str, Any],
    frame: pd.DataFrame,
    parse_failures: AbcMapping[str, int],
    parse_examples: AbcMapping[str, str],
) -> str:
    count = int(res.get("unexpected_count") or 0)
    examples = examples_text(res.get("partial_unexpected_list") or [])
    bare = column.split(".", 1)[-1]
    if check == "min_rows":
        observed = res.get("observed_value", len(frame))
        return f"{observed} rows (min {kwargs.get('min_value')})"
    if check == "column_exists":
        return "column missing (required, or mapped in source.mapping)"
    if check == "not_null":
        unparsed = int(parse_failures.get(bare, 0))
        if unparsed:
            example = f" (e.g. {_fmt(parse_examples[bare])})" if bare in parse_examples else ""
            if unparsed >= count:
                return f"{counted(count, 'unparseable value', 'unparseable values')}{example}"
            missing = counted(count, "missing value", "missing values")
            return f"{missing}, {unparsed} of them unparseable{example}"
        return f"{counted(count, 'missing value', 'missing values')} ({count / max(len(frame), 1):.1%})"
    if check == "unique":
        return f"{counted(count, 'duplicate value', 'duplicate values')}{examples}"
    if check == "closed_after_created":
        ids = _ids_where(frame, frame[canonical.CLOSED_AT] < frame[canonical.CREATED_AT])
        return f"{counted(count, 'lead closed', 'leads closed')} before they were created{ids}"
    if check == "outcome_known":
        unknown = ~frame[canonical.OUTCOME].isin(canonical.OUTCOME_VALUES) & frame[canonical.OUTCOME].notna()
        raw = (
            frame.loc[unknown, canonical.STATUS]
            if canonical.STATUS in frame.columns
            else frame.loc[unknown, "outcome"]
        )
        values = raw.fillna("<missing>").astype("str").value_counts().index[:_EXAMPLES]
        return (
            f"{counted(count, 'unknown status value', 'unknown status values')}{examples_text(list(values))}"
        )
    if check == "label_binary":
        return f"{counted(count, 'value other than 0/1', 'values other than 0/1')}{examples}"
    if check == "range":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None and high is not None:
            return f"{counted(count, 'value outside', 'values outside')} {_fmt(low)}..{_fmt(high)}{examples}"
        if low is not None:
            return f"{counted(count, 'value below', 'values below')} {_fmt(low)}{examples}"
        return f"{counted(count, 'value above', 'values above')} {_fmt(high)}{examples}"
    if check == "time_range":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bounds = f"before {pd.Timestamp(low):%Y-%m-%d}"
        if high is not None:
            bounds += f" or after {pd.Timestamp(high)} (pull time + 1 day)"
        return f"{counted(count, 'timestamp', 'timestamps')} {bounds}{examples}"
    if check == "category_set":
        return f"{counted(count, 'value not in the allowed set', 'values not in the allowed set')}{examples}"
    if check == "missing_rate":
        observed = float(res.get("observed_value") or 0.0)
        return f"{1.0 - observed:.1%} missing (max {1.0 - float(kwargs.get('min_value', 0.0)):.0%})"
    if check == "not_blank":
        return f"{counted(count, 'empty value', 'empty values')}"
    return f"{counted(count, 'unexpected value', 'unexpected values')}{examples}"


def _ids_where(frame: pd.DataFrame, mask: pd.Series) -> str:
    if canonical.LEAD_ID not in frame.columns:
        return ""
    return examples_text(list(frame.loc[mask.fillna(False), canonical.LEAD_ID].head(_EXAMPLES)))


def counted(n: int, singular: str, plural: str) -> str:
    """``"1 duplicate value"`` / ``"12 duplicate values"``: failure lines read as sentences."""
    return f"1 {singular}" if n == 1 else f"{n:,} {plural}"


def examples_text(values: Sequence[Any]) -> str:
    """`` (e.g. 'a', 'b')`` from the first distinct values, or an empty string."""
    seen: list[str] = []
    for value in values:
        text = _fmt(value)
        if text not in seen:
            seen.append(text)
        if len(seen) == _EXAMPLES:
            break
    return f" (e.g. {', '.join(seen)})" if seen else ""


def _fmt(value: Any) -> str:
    """Short, single-line rendering of an example value."""
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "NaN"
        return str(int(value)) if float(value).is_integer() else f"{float(value):g}"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, np.datetime64 | pd.Timestamp):
        return str(pd.Timestamp(value))
    text = str(value)
    return repr(text[:40] + ("..." if len(text) > 40 else ""))
