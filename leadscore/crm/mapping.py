"""Map a raw CRM export onto the canonical columns of leadscore.core.canonical.

This is the one place that knows export column names. Everything downstream (validation, features, training,
the batch command and the API) sees canonical names only, which is what makes a new CRM a config change.

Decisions worth knowing:

* **Unparseable values are coerced, not fatal.** Timestamps and numbers that do not parse become missing
  (NaT / NaN; so do timestamps outside 1677-2262, e.g. a 9999-12-31 "no date" placeholder) and are
  *counted* per column in :class:`MappingReport`. The pull stage writes the counts to
  ``pull_summary.json`` and the validation stage turns them into a readable expectation failure, so the user
  sees every problem at once instead of the first traceback.
* **Unknown status values are kept** with outcome ``"unknown"`` (and a missing label) so that validation can
  reject them by name instead of the rows silently disappearing.
* **Immature leads are dropped whatever their status** (``LabelPolicy.immature="drop_all"``, the default):
  among young leads, the ones that already closed are biased towards quick losses, so keeping them would make
  the newest period look worse than it is. ``"drop_open"`` keeps young closed leads.
* **Exports without timestamps** (``Mapping.order_by``, e.g. X Education's lead number) get a synthetic
  ``created_at``: ``2000-01-01`` plus one hour per rank in the order, oldest first. It keeps the out-of-time
  split and the reports' periods meaningful as *order*, not calendar time, and the maturity rule is skipped
  (there is no age to judge).
* **PII never leaves this function**: only mapped columns are carried, and a PII column cannot be mapped as an
  extra.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import SourceError
from leadscore.core.params import ActivityMapping, JoinSpec, LabelPolicy, Mapping
from leadscore.core.timestamps import CLOCK_TOLERANCE, naive_utc_series, outside_range

logger = logging.getLogger(__name__)

OUTCOME_UNKNOWN = "unknown"
# Synthetic clock for exports ordered by a sequence column instead of timestamps (see module docstring).
SYNTHETIC_EPOCH = pd.Timestamp("2000-01-01")
SYNTHETIC_STEP = pd.Timedelta(hours=1)
_TIMESTAMP_ROLES = (canonical.CREATED_AT, canonical.CLOSED_AT, canonical.FIRST_CONTACT_AT)


@dataclass
class MappingReport:
    """What the mapping did, for pull_summary.json and the validation stage.

    Attributes:
        rows_in: rows in the raw export.
        rows_out: rows in the canonical frame.
        parse_failures: canonical column -> count of non-empty values that did not parse (became missing).
        parse_examples: canonical column -> one example of a value that did not parse (PII is never parsed).
        parse_example_rows: canonical column -> position (0-based) of that example's row in the export, so a
            caller can name the lead.
        outcome_counts: outcome -> rows, before the label policy.
        unknown_status_values: raw status values that matched none of won/lost/open values, with counts.
        dropped_immature: leads younger than the maturity window that were left out.
        old_open_as_lost: old open leads labelled lost; dropped_old_open: old open leads left out.
        synthetic_created_at: created_at was synthesised from ``order_by``.
        duplicate_lead_ids: lead ids that occur more than once (validation decides what to do).
        created_after_reference: leads created after a pinned ``label.reference_time`` (left out; validate
            stops above ``validate.max_created_after_reference_rate``), with a few of their created_at values.
    """

    rows_in: int = 0
    rows_out: int = 0
    parse_failures: dict[str, int] = field(default_factory=dict)
    parse_examples: dict[str, str] = field(default_factory=dict)
    parse_example_rows: dict[str, int] = field(default_factory=dict)
    outcome_counts: dict[str, int] = field(default_factory=dict)
    unknown_status_values: dict[str, int] = field(default_factory=dict)
    dropped_immature: int = 0
    old_open_as_lost: int = 0
    dropped_old_open: int = 0
    synthetic_created_at: bool = False
    duplicate_lead_ids: int = 0
    reference_time: str | None = None
    created_after_reference: int = 0
    created_after_reference_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class MappedLeads:
    """Canonical leads plus the report of how they were obtained."""

    leads: pd.DataFrame
    report: MappingReport


def extra_column_names(mapping: Mapping) -> dict[str, str]:
    """Export column -> canonical extra column name (``xcat_``/``xnum_`` + sanitised name)."""
    return canonical.extra_column_names(mapping.extra_categorical, mapping.extra_numeric)


def _role_columns(mapping: Mapping) -> dict[str, str]:
    """Canonical feature role -> export column, for the roles that are mapped."""
    roles: dict[str, str] = {}
    for role, column in {**mapping.firmographic, **mapping.bant}.items():
        if role not in canonical.ROLE_COLUMNS:
            raise SourceError(
                f"unknown canonical role {role!r} in the mapping; known roles: {canonical.ROLE_COLUMNS}"
            )
        roles[role] = column
    if mapping.lead_source:
        roles[canonical.LEAD_SOURCE] = mapping.lead_source
    return roles


def apply_joins(leads: pd.DataFrame, tables: list[pd.DataFrame], joins: list[JoinSpec]) -> pd.DataFrame:
    """Left-join each secondary table onto the leads table (for exports split across several tables).

    The join must be many-to-one (each lead matches at most one row), otherwise leads would be duplicated: a
    right table with duplicate keys is an error. ``indicator_column`` adds a 1/0 column marking leads found in
    the joined table (Olist's closed-deals table marks won leads this way).

    Args:
        leads: the raw leads table.
        tables: the joined tables, in the same order as ``joins``.
        joins: the join specifications.

    Returns:
        The widened leads table, same rows in the same order.
    """
    out = leads
    for spec, table in zip(joins, tables, strict=True):
        right_on = spec.right_on or spec.on
        what = spec.path or spec.table or "joined table"
        if spec.on not in out.columns:
            raise SourceError(
                f"join key '{spec.on}' not in the leads export; available: {_preview(out.columns)}"
            )
        if right_on not in table.columns:
            raise SourceError(f"join key '{right_on}' not in {what}; available: {_preview(table.columns)}")
        keep = [c for c in (spec.columns or list(table.columns)) if c != right_on]
        missing = [c for c in keep if c not in table.columns]
        if missing:
            raise SourceError(
                f"join column '{missing[0]}' not in {what}; available: {_preview(table.columns)}"
            )
        right = table[[right_on, *keep]].copy()
        right[right_on] = _as_key(right[right_on])
        duplicated = right[right_on].dropna().duplicated()
        if duplicated.any():
            raise SourceError(
                f"join key '{right_on}' in {what} is not unique ({int(duplicated.sum())} duplicates): "
                "a lead would be counted several times"
            )
        clashes = [c for c in keep if c in out.columns]
        if clashes:
            raise SourceError(f"joined column '{clashes[0]}' from {what} already exists in the leads export")
        marker = "__leadscore_joined__"
        right[marker] = 1
        left = out.copy()
        left_key = "__leadscore_key__"
        left[left_key] = _as_key(left[spec.on])
        merged = left.merge(right, how="left", left_on=left_key, right_on=right_on, suffixes=("", "__right"))
        if right_on != spec.on and right_on in merged.columns and right_on not in out.columns:
            merged = merged.drop(columns=[right_on])
        merged = merged.drop(columns=[left_key] + [c for c in merged.columns if c.endswith("__right")])
        if spec.indicator_column:
            merged[spec.indicator_column] = merged[marker].fillna(0).astype(int)
        out = merged.drop(columns=[marker])
    return out


def map_leads(
    raw_leads: pd.DataFrame,
    mapping: Mapping,
    label: LabelPolicy,
    *,
    require_outcome: bool = True,
    strict_columns: bool = True,
    reference_time: pd.Timestamp | None = None,
) -> MappedLeads:
    """Map a raw leads export onto canonical columns and apply the label policy.

    Args:
        raw_leads: the export as read (joins already applied, see :func:`apply_joins`).
        mapping: export column -> canonical role.
        label: won/lost/open values and the maturity rule.
        require_outcome: False for unlabeled exports (batch scoring, the API): status, closed_at and true_p
            may be absent, no outcome/label is derived and no lead is dropped.
        strict_columns: False lets mapped feature columns be absent (they become all-missing); the API uses it
            for partial records. Outcome and key columns are always checked.
        reference_time: the moment the export was pulled (naive UTC), which the maturity rule measures a
            lead's age against; ``label.reference_time`` overrides it. The pull stage always passes it.
            Without either, the latest created_at is used, which one bogus future date (2262-01-01) would
            drag along, turning every open lead "old" and so lost: only for callers without a clock (tests).

    Returns:
        Canonical leads sorted by created_at (then lead_id), with the mapping report.

    Raises:
        SourceError: a mapped column is not in the export, or a PII column is mapped as an extra.
    """
    report = MappingReport(rows_in=len(raw_leads))
    available = list(raw_leads.columns)
    pii = set(mapping.pii)

    def need(column: str | None, role: str, required: bool = True) -> bool:
        if column is None:
            return False
        if column in raw_leads.columns:
            return True
        if required:
            raise SourceError(
                f"mapped column '{column}' (role {role}) not in export; available: {_preview(available)}"
            )
        return False

    need(mapping.lead_id, canonical.LEAD_ID)
    if mapping.created_at is None and mapping.order_by is None:
        raise SourceError("the mapping needs created_at or order_by: leads must be ordered in time")
    has_created = need(mapping.created_at, canonical.CREATED_AT, required=mapping.order_by is None)
    use_order = not has_created
    if use_order:
        need(mapping.order_by, "order_by")
    has_status = need(mapping.status, canonical.STATUS, required=require_outcome)
    has_closed = need(mapping.closed_at, canonical.CLOSED_AT, required=require_outcome)
    has_first_contact = need(mapping.first_contact_at, canonical.FIRST_CONTACT_AT, required=require_outcome)
    has_true_p = need(mapping.true_p, canonical.TRUE_P, required=False)

    roles = _role_columns(mapping)
    extras = extra_column_names(mapping)
    for column in extras:
        if column in pii:
            raise SourceError(f"column '{column}' is listed as PII and cannot be mapped as an extra feature")
    clash = {v for v in extras.values()}
    if len(clash) != len(extras):
        raise SourceError("two extra columns sanitise to the same name; rename one in the export or drop it")
    present_roles = {r: c for r, c in roles.items() if need(c, r, required=strict_columns)}
    present_extras = {c: n for c, n in extras.items() if need(c, n, required=strict_columns)}

    missing_tokens = {str(v).strip().casefold() for v in mapping.missing_values}

    def clean(series: pd.Series) -> pd.Series:
        """Replace the export's "not filled in" tokens (and blank strings) by missing."""
        if series.dtype.kind in "biufcmM":
            return series
        as_text = series.astype("str").str.strip()
        blank = as_text.eq("") | as_text.str.casefold().isin(missing_tokens)
        return series.mask(blank.fillna(False))

    out = pd.DataFrame(index=raw_leads.index)
    out[canonical.LEAD_ID] = _as_key(raw_leads[mapping.lead_id])
    if use_order:
        order_values = pd.to_numeric(raw_leads[mapping.order_by], errors="coerce")
        if order_values.isna().all():
            order_values = raw_leads[mapping.order_by].astype("str")
        ranks = order_values.rank(method="first", ascending=not mapping.order_descending, na_option="bottom")
        out[canonical.CREATED_AT] = SYNTHETIC_EPOCH + (ranks.to_numpy() - 1) * SYNTHETIC_STEP
        report.synthetic_created_at = True
    else:
        out[canonical.CREATED_AT] = _parse_timestamps(
            clean(raw_leads[mapping.created_at]), canonical.CREATED_AT, report
        )
    if has_closed:
        out[canonical.CLOSED_AT] = _parse_timestamps(
            clean(raw_leads[mapping.closed_at]), canonical.CLOSED_AT, report
        )
    if has_first_contact:
        out[canonical.FIRST_CONTACT_AT] = _parse_timestamps(
            clean(raw_leads[mapping.first_contact_at]), canonical.FIRST_CONTACT_AT, report
        )

    for role, column in roles.items():
        values = (
            clean(raw_leads[column]) if role in present_roles else pd.Series(np.nan, index=raw_leads.index)
        )
        if role in canonical.NUMERIC_ROLES:
            out[role] = _parse_numbers(values, role, report)
        else:
            out[role] = _as_text(values)
    for column, name in extras.items():
        values = (
            clean(raw_leads[column]) if column in present_extras else pd.Series(np.nan, index=raw_leads.index)
        )
        if name.startswith(canonical.EXTRA_NUMERIC_PREFIX):
            out[name] = _parse_numbers(values, name, report)
        else:
            out[name] = _as_text(values)
    if has_true_p:
        out[canonical.TRUE_P] = pd.to_numeric(raw_leads[mapping.true_p], errors="coerce").astype(float)

    report.duplicate_lead_ids = int(out[canonical.LEAD_ID].duplicated().sum())
    if has_status:
        out[canonical.STATUS] = _as_key(raw_leads[mapping.status])
    if has_status and require_outcome:
        out = _apply_label_policy(out, label, report, skip_maturity=use_order, reference_time=reference_time)

    # PII can only arrive through a role mapping by mistake; make sure the canonical PII names never leave.
    out = out.drop(columns=[c for c in canonical.PII_COLUMNS if c in out.columns])
    front = [
        canonical.LEAD_ID,
        canonical.CREATED_AT,
        canonical.CLOSED_AT,
        canonical.STATUS,
        canonical.OUTCOME,
        canonical.LABEL,
        canonical.FIRST_CONTACT_AT,
    ]
    ordered = [c for c in front if c in out.columns] + [c for c in out.columns if c not in front]
    out = (
        out[ordered]
        .sort_values([canonical.CREATED_AT, canonical.LEAD_ID], kind="stable")
        .reset_index(drop=True)
    )
    report.rows_out = len(out)
    return MappedLeads(leads=out, report=report)


def status_outcomes(status: pd.Series, policy: LabelPolicy) -> pd.Series:
    """Each CRM status as won / lost / open by the policy's values, else ``"unknown"`` (missing ones too).

    The one reading of a CRM's statuses: the pull stage labels leads with it and ``leadscore report
    --outcomes`` reads the export's outcomes with it, so "Closed Won" means the same in both.
    """
    text = _as_key(status).str.casefold()

    def values(raw: list[str]) -> set[str]:
        return {_normalise_status_value(v) for v in raw}

    outcome = pd.Series(OUTCOME_UNKNOWN, index=status.index, dtype=object)
    outcome[text.isin(values(policy.won_values)).to_numpy()] = canonical.OUTCOME_WON
    outcome[text.isin(values(policy.lost_values)).to_numpy()] = canonical.OUTCOME_LOST
    outcome[text.isin(values(policy.open_values)).to_numpy()] = canonical.OUTCOME_OPEN
    outcome[status.isna().to_numpy()] = OUTCOME_UNKNOWN
    return outcome.astype("str")


def _apply_label_policy(
    leads: pd.DataFrame,
    policy: LabelPolicy,
    report: MappingReport,
    *,
    skip_maturity: bool,
    reference_time: pd.Timestamp | None,
) -> pd.DataFrame:
    """Derive outcome and label, and drop leads whose outcome cannot be known yet."""
    leads = leads.assign(**{canonical.OUTCOME: status_outcomes(leads[canonical.STATUS], policy)})
    report.outcome_counts = {str(k): int(v) for k, v in leads[canonical.OUTCOME].value_counts().items()}
    unknown = leads[canonical.OUTCOME] == OUTCOME_UNKNOWN
    if unknown.any():
        raw_unknown = leads.loc[unknown, canonical.STATUS].fillna("<missing>").astype("str").value_counts()
        report.unknown_status_values = {str(k): int(v) for k, v in raw_unknown.head(20).items()}
        shown = ", ".join(f"{value!r} ({n:,})" for value, n in report.unknown_status_values.items())
        logger.warning(
            "%d leads have a status that is in none of source.label's won %s, lost %s or open %s values: %s",
            int(unknown.sum()),
            policy.won_values,
            policy.lost_values,
            policy.open_values,
            shown,
        )

    created = leads[canonical.CREATED_AT]
    if policy.reference_time:
        reference = pd.Timestamp(policy.reference_time)
    else:
        reference = created.max() if reference_time is None else pd.Timestamp(reference_time)
    report.reference_time = None if pd.isna(reference) else str(reference)
    known = leads[canonical.OUTCOME] != OUTCOME_UNKNOWN
    is_open = leads[canonical.OUTCOME] == canonical.OUTCOME_OPEN
    if skip_maturity or pd.isna(reference):
        young = pd.Series(False, index=leads.index)
    else:
        young = created > reference - pd.Timedelta(days=policy.maturity_days)
        if not policy.reference_time:
            # Created after the pull: not young but impossible. It stays, for the validate gate to reject.
            young &= created <= reference + CLOCK_TOLERANCE
    future = pd.Series(False, index=leads.index)
    if policy.reference_time and not pd.isna(reference):
        # Created after the export was taken: impossible, so never a young lead. Counted and left out here;
        # the validate gate stops the pipeline when there are more than the params allow.
        future = created > reference + CLOCK_TOLERANCE
        young &= ~future
        report.created_after_reference = int(future.sum())
        report.created_after_reference_examples = [str(t) for t in created[future].head(3)]
        if future.any():
            logger.warning(
                "%d leads are created after source.label.reference_time %s (e.g. %s): left out",
                report.created_after_reference,
                reference,
                ", ".join(report.created_after_reference_examples),
            )
    drop_young = young & known & (is_open if policy.immature == "drop_open" else True)
    # Open leads that are old enough: the deal went nowhere (lost) or, by choice, they are left out.
    old_open = is_open & ~young
    report.dropped_immature = int(drop_young.sum())
    drop = drop_young.copy()
    if policy.old_open == "drop":
        report.dropped_old_open = int(old_open.sum())
        drop |= old_open
    else:
        report.old_open_as_lost = int(old_open.sum())
    # Young open leads under "drop_open" are dropped too (their outcome is unknown).
    drop |= (young & is_open) | future
    leads = leads.loc[~drop].copy()

    label = leads[canonical.OUTCOME].map(
        {canonical.OUTCOME_WON: 1, canonical.OUTCOME_LOST: 0, canonical.OUTCOME_OPEN: 0}
    )
    if label.isna().any():
        leads[canonical.LABEL] = label.astype("Int64")  # unknown outcomes: validation rejects them by name
    else:
        leads[canonical.LABEL] = label.astype("int64")
    return leads


def map_activities(raw: pd.DataFrame, mapping: ActivityMapping) -> tuple[pd.DataFrame, dict[str, object]]:
    """Map a raw activity log; rows whose time or type cannot be read are dropped and counted.

    Returns:
        The canonical activities sorted by lead and time, and a small report (rows in/out, parse failures).

    Raises:
        SourceError: a mapped column is not in the activity export.
    """
    for role, column in (
        (canonical.ACTIVITY_LEAD_ID, mapping.lead_id),
        (canonical.ACTIVITY_AT, mapping.occurred_at),
        (canonical.ACTIVITY_TYPE, mapping.activity_type),
    ):
        if column not in raw.columns:
            raise SourceError(
                f"mapped column '{column}' (activity role {role}) not in activity export; "
                f"available: {_preview(raw.columns)}"
            )
    report = MappingReport(rows_in=len(raw))
    out = pd.DataFrame(
        {
            canonical.ACTIVITY_LEAD_ID: _as_key(raw[mapping.lead_id]),
            canonical.ACTIVITY_AT: _parse_timestamps(raw[mapping.occurred_at], canonical.ACTIVITY_AT, report),
            canonical.ACTIVITY_TYPE: _as_text(raw[mapping.activity_type]).str.strip(),
        }
    )
    bad = out.isna().any(axis=1)
    out = out.loc[~bad].sort_values([canonical.ACTIVITY_LEAD_ID, canonical.ACTIVITY_AT], kind="stable")
    out = out.reset_index(drop=True)
    summary: dict[str, object] = {
        "rows_in": len(raw),
        "rows_out": len(out),
        "dropped_unreadable": int(bad.sum()),
        "parse_failures": report.parse_failures,
        "parse_examples": report.parse_examples,
    }
    return out, summary


# ---- helpers ---------------------------------------------------------------------------------------------
def _preview(columns: pd.Index | list[str], limit: int = 25) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _normalise_status_value(value: object) -> str:
    """Status values from config ("1", 1, True) and from the export compare as normalised text."""
    text = str(value).strip().casefold()
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        text = text[:-2]
    return {"true": "1", "false": "0"}.get(text, text)


def _as_key(series: pd.Series) -> pd.Series:
    """Identifiers and status values as text: 1.0 -> "1" (CSV readers make ids with gaps floats)."""
    if series.dtype.kind == "f":
        whole = series.dropna()
        if (whole == np.floor(whole)).all():
            return series.map(lambda v: None if pd.isna(v) else str(int(v))).astype("str")
    if series.dtype.kind == "b":
        return series.astype(int).astype("str")
    return series.astype("str").str.strip().mask(series.isna())


def _as_text(series: pd.Series) -> pd.Series:
    text = series.astype("str")
    return text.mask(series.isna())


def _parse_timestamps(series: pd.Series, role: str, report: MappingReport) -> pd.Series:
    """Parse to naive UTC datetimes; unparseable or out-of-range values become NaT and are counted."""
    if series.dtype.kind == "M":
        parsed = series
    else:
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
        retry = parsed.isna() & series.notna()
        if retry.any():
            # Exports mix formats ("2018-02-01", "02/01/2018 10:00"); only the leftovers pay for slow parsing.
            parsed = parsed.copy()
            parsed[retry] = pd.to_datetime(series[retry], errors="coerce", format="mixed", utc=True)
    parsed = naive_utc_series(parsed).astype("datetime64[us]")
    # Placeholders such as 9999-12-31 ("no date") parse but cannot be compared on the canonical clock.
    beyond = outside_range(parsed.to_numpy())
    if beyond.any():
        parsed = parsed.mask(beyond)
    _count_failures(series, parsed, role, report)
    return parsed


def _parse_numbers(series: pd.Series, role: str, report: MappingReport) -> pd.Series:
    """Parse to float; unparseable values become NaN and are counted."""
    parsed = pd.to_numeric(series, errors="coerce").astype(float)
    _count_failures(series, parsed, role, report)
    return parsed


def _count_failures(series: pd.Series, parsed: pd.Series, role: str, report: MappingReport) -> None:
    """Record the values that were present but became missing: count, one example and its export row."""
    failed = (parsed.isna() & series.notna()).to_numpy()
    if failed.any():
        first = int(np.flatnonzero(failed)[0])
        report.parse_failures[role] = int(failed.sum())
        report.parse_examples[role] = str(series.iloc[first])[:50]
        report.parse_example_rows[role] = first
