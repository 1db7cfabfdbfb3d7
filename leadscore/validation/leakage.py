"""Leakage detector: columns and activity types that encode the outcome instead of predicting it.

A lead-scoring model is only as honest as its inputs. CRM exports mix what was known when the lead arrived
with what sales typed in later ("Tags: Closed by Horizzon", a close value, a won date), and a model trained
on the latter scores beautifully offline and is useless in production. This module looks for the
statistical fingerprints of such columns, so that the gate can stop training and name them:

* ``single_column_auc``: one column alone separates won from lost better than any honest column plausibly can
  (numeric: rank AUC of the value, missing ranked as its own lowest/highest level, both directions;
  categorical: out-of-fold target-mean encoding, so an id-like column cannot look predictive by memorising).
* ``fill_rate``: the column is filled far more often for one outcome (Olist's closed-deal columns exist only
  for won leads), or its filled (or missing) rows are almost all one outcome.
* ``fill_and_auc``: moderately outcome-dependent filling *and* moderate separation: the signature of a field a
  salesperson fills in after contact (X Education's "Lead Quality").
* ``post_outcome_timestamp``: a date-like extra column whose values lie at/after closed_at (or after as_of)
  for most leads: it was written when the outcome was (nearly) known.
* ``post_outcome_activity``: activity types that happen (almost) only after closed_at or only for won leads
  (contract signed, invoice paid). The point-in-time filter drops them, so they are warnings unless a relevant
  share of their events falls before as_of, where they would reach the features.

The detector is a library function: it takes frames and params, never reads files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binomtest, rankdata
from sklearn.model_selection import StratifiedKFold

from leadscore.core import canonical
from leadscore.core.params import LeakageParams

logger = logging.getLogger(__name__)

# Target-mean encoding shrinks each category towards the prior with this many pseudo-rows, so that a category
# seen 3 times in the training folds cannot claim a conversion rate of 0 or 1.
_TE_SMOOTHING = 10.0
# Fewer rows than this in a subset (filled rows, a class, an activity type) is not evidence of anything.
_MIN_SUBSET_ROWS = 20
# "Almost all one outcome" must also be very unlikely under the base rate (a one-sided binomial test).
_MAX_PURITY_P_VALUE = 1e-6
# A date-like extra column is post-outcome when more than this share of its values is at/after the outcome.
_POST_TIMESTAMP_SHARE = 0.5
_DATE_SAMPLE = 500
_NEVER_FEATURES = frozenset(
    {canonical.LEAD_ID, canonical.CREATED_AT, canonical.FIRST_CONTACT_AT, *canonical.OUTCOME_ONLY_COLUMNS}
)
ACTIVITY_PREFIX = "activity:"


@dataclass(frozen=True)
class LeakSuspect:
    """One column (or activity type) that looks like it encodes the outcome.

    Attributes:
        name: canonical column name, or ``activity:<type>`` for an activity type.
        kind: the strongest rule that fired (see the module docstring).
        evidence: the figures behind the verdict, in one readable line.
        blocking: False for findings that cannot reach the model (post-outcome activity types that the as-of
            filter drops): reported, never a gate failure.
        allowed: listed in ``source.mapping.allow_leaky``: the owner vouches for it, so it is only a warning.
        metrics: the raw figures (AUC, fill rates, shares) for the JSON report.
    """

    name: str
    kind: str
    evidence: str
    blocking: bool = True
    allowed: bool = False
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def fails_gate(self) -> bool:
        """True when this suspect must stop training."""
        return self.blocking and not self.allowed

    def line(self) -> str:
        """One readable line: name, verdict and evidence."""
        return f"{self.name}: {self.evidence}"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for summary.json."""
        return {**asdict(self), "fails_gate": self.fails_gate}


def candidate_feature_columns(columns: Sequence[str]) -> list[str]:
    """Columns that may become model features: mapped roles and ``xcat_``/``xnum_`` extras.

    Outcome-only columns, ids and the lead's own timestamps are never features, so never suspects.
    """
    out = []
    for column in columns:
        if column in _NEVER_FEATURES:
            continue
        if column in canonical.ROLE_COLUMNS or column.startswith(
            (canonical.EXTRA_CATEGORICAL_PREFIX, canonical.EXTRA_NUMERIC_PREFIX)
        ):
            out.append(column)
    return out


def detect_leakage(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    params: LeakageParams,
    allow: Sequence[str] = (),
    as_of_offset_days: int = 14,
    *,
    seed: int = 0,
) -> list[LeakSuspect]:
    """Find columns and activity types that look like they encode the outcome.

    Args:
        leads: canonical leads with ``label`` (rows with a missing label are ignored).
        activities: canonical activities, or None / empty.
        params: detector thresholds (``validate.leakage``).
        allow: names the owner vouches for (``source.mapping.allow_leaky``): export names, canonical names
            (``xcat_tags``), bare activity types or ``activity:<type>``; compared case- and punctuation-blind.
        as_of_offset_days: scoring moment after creation (``base.as_of_offset_days``).
        seed: fold assignment of the out-of-fold encoding (deterministic).

    Returns:
        Suspects in column order, then activity types. Empty when there are too few labelled leads per class
        to judge (the gate's own row-count checks report that).
    """
    if canonical.LABEL not in leads.columns:
        logger.warning("leakage: no label column, detector skipped")
        return []
    label = pd.to_numeric(leads[canonical.LABEL], errors="coerce")
    labelled = label.isin([0, 1]).to_numpy()
    frame = leads.loc[labelled].reset_index(drop=True)
    y = label[labelled].to_numpy(dtype=np.int64) == 1
    if min(y.sum(), (~y).sum()) < _MIN_SUBSET_ROWS:
        logger.warning("leakage: fewer than %d leads in a class, detector skipped", _MIN_SUBSET_ROWS)
        return []
    allowed = _normalised_allow(allow)
    as_of = _as_of(frame, as_of_offset_days)
    closed_at = frame[canonical.CLOSED_AT] if canonical.CLOSED_AT in frame.columns else None

    suspects: list[LeakSuspect] = []
    for column in candidate_feature_columns(list(frame.columns)):
        suspect = _check_column(frame[column], column, y, params, seed, closed_at, as_of)
        if suspect is not None:
            suspects.append(_with_allow(suspect, allowed))
    timing = {canonical.LEAD_ID, canonical.CREATED_AT, canonical.CLOSED_AT} <= set(leads.columns)
    if activities is not None and len(activities) and timing:
        for suspect in _post_outcome_activity_types(leads, activities, params, as_of_offset_days):
            suspects.append(_with_allow(suspect, allowed))
    logger.info(
        "leakage: %d suspects, %d blocking (%s)",
        len(suspects),
        sum(s.fails_gate for s in suspects),
        ", ".join(s.name for s in suspects) or "none",
    )
    return suspects


# ---- per-column checks -------------------------------------------------------------------------------------
def _check_column(
    values: pd.Series,
    name: str,
    y: np.ndarray,
    params: LeakageParams,
    seed: int,
    closed_at: pd.Series | None,
    as_of: pd.Series | None,
) -> LeakSuspect | None:
    filled = _filled(values)
    n_won, n_lost = int(y.sum()), int((~y).sum())
    fill_won = float(filled[y].mean())
    fill_lost = float(filled[~y].mean())
    gap = abs(fill_won - fill_lost)
    metrics: dict[str, float] = {"fill_rate_won": round(fill_won, 4), "fill_rate_lost": round(fill_lost, 4)}
    reasons: list[tuple[str, str]] = []  # (kind, evidence) in order of strength

    numeric = values.dtype.kind in "biuf"
    dates = None if numeric else _as_dates(values, name)
    if dates is not None:
        reasons.extend(_timestamp_reasons(dates, closed_at, as_of, metrics))
    if filled.any():
        if numeric:
            as_float = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            auc, how = _numeric_auc(as_float, y), "rank AUC of the value"
        else:
            auc, how = _oof_target_mean_auc(values, y, params.cv_folds, seed), "out-of-fold target-mean AUC"
        metrics["auc"] = round(auc, 4)
        if auc > params.max_single_column_auc:
            detail = "" if numeric else f", {values.nunique(dropna=True)} distinct values"
            reasons.insert(
                0, ("single_column_auc", f"{how} {auc:.3f} > {params.max_single_column_auc}{detail}")
            )
    else:
        auc = 0.5
    fill_text = f"filled for {fill_won:.0%} of won vs {fill_lost:.0%} of lost leads"
    if gap > params.max_fill_rate_gap:
        reasons.append(("fill_rate", f"{fill_text} (gap {gap:.2f} > {params.max_fill_rate_gap})"))
    else:
        purity = _exclusive_subset(filled, y, params.exclusive_fill_purity)
        if purity is not None:
            reasons.append(("fill_rate", purity))
        elif gap > params.partial_fill_gap and auc > params.partial_fill_auc:
            reasons.append(
                (
                    "fill_and_auc",
                    f"{fill_text} (gap {gap:.2f} > {params.partial_fill_gap}) and AUC {auc:.3f} > "
                    f"{params.partial_fill_auc}: looks filled in by sales after contact",
                )
            )
    metrics.update({"n_won": n_won, "n_lost": n_lost})
    if not reasons:
        return None
    return LeakSuspect(
        name=name, kind=reasons[0][0], evidence="; ".join(r[1] for r in reasons), metrics=metrics
    )


def _filled(values: pd.Series) -> np.ndarray:
    """Non-missing and, for text, non-blank."""
    filled = values.notna().to_numpy()
    if values.dtype.kind not in "biufmM":
        blank = values.astype("str").str.strip().eq("").to_numpy(dtype=bool)
        filled = filled & ~blank
    return filled


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get average ranks; infinities are fine)."""
    ranks = rankdata(score)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _numeric_auc(values: np.ndarray, y: np.ndarray) -> float:
    """Best single-direction AUC of a numeric column, with missing as its own lowest or highest level."""
    missing = np.isnan(values)
    placements = (-np.inf, np.inf) if missing.any() else (0.0,)
    best = 0.5
    for fill in placements:
        auc = _auc(y, np.where(missing, fill, values))
        best = max(best, auc, 1.0 - auc)
    return best


def _oof_target_mean_auc(values: pd.Series, y: np.ndarray, folds: int, seed: int) -> float:
    """AUC of an out-of-fold smoothed target-mean encoding (missing is a category of its own).

    Encoding each fold from the other folds means a category must carry signal to *new* rows: a unique id per
    lead maps to the prior everywhere and scores 0.5 instead of a memorised 1.0.
    """
    codes, uniques = pd.factorize(values.astype("str").where(values.notna(), None), use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    n_codes = len(uniques) + 1
    encoded = np.zeros(len(codes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(codes, y):
        prior = y[train].mean()
        sums = np.bincount(codes[train], weights=y[train], minlength=n_codes)
        counts = np.bincount(codes[train], minlength=n_codes)
        encoding = (sums + _TE_SMOOTHING * prior) / (counts + _TE_SMOOTHING)
        encoded[test] = encoding[codes[test]]
    auc = _auc(y, encoded)
    return max(auc, 1.0 - auc)


def _exclusive_subset(filled: np.ndarray, y: np.ndarray, purity: float) -> str | None:
    """Evidence when the filled (or the missing) rows are almost all one outcome, beyond chance."""
    base = float(y.mean())
    for subset, word in ((filled, "filled"), (~filled, "missing")):
        n = int(subset.sum())
        if n < _MIN_SUBSET_ROWS or n == len(y):
            continue
        won = int(y[subset].sum())
        rate = won / n
        if rate >= purity:
            p_value = binomtest(won, n, base, alternative="greater").pvalue
            outcome = "won"
        elif 1.0 - rate >= purity:
            p_value = binomtest(won, n, base, alternative="less").pvalue
            outcome = "lost"
        else:
            continue
        if p_value < _MAX_PURITY_P_VALUE:
            share = rate if outcome == "won" else 1.0 - rate
            return f"{word} for {n:,} leads, {share:.1%} of them {outcome} (base rate won {base:.1%})"
    return None


# ---- timestamps --------------------------------------------------------------------------------------------
def _as_dates(values: pd.Series, name: str) -> pd.Series | None:
    """Parse a text column as timestamps when it clearly holds dates; None otherwise."""
    if values.dtype.kind == "M":
        return values
    if not name.startswith(canonical.EXTRA_CATEGORICAL_PREFIX):
        return None
    text = values.dropna().astype("str").str.strip()
    if text.empty:
        return None
    sample = text.iloc[:_DATE_SAMPLE]
    # Cheap screen first: most text columns are not dates, and the parsers below are slow on them.
    # Decimals ("12.5") and numbers ("2017") are not dates; "2018-02-26", "26/02/2018", "26.02.2018" are.
    if sample.str.contains(r"\d{1,4}[-/]\d{1,2}|\d{1,2}\.\d{1,2}\.\d{2,4}", regex=True).mean() < 0.9:
        return None
    parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601")
    if parsed.notna().mean() < 0.9:
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
        if parsed.notna().mean() < 0.9:
            return None
    full = pd.to_datetime(values.astype("str").where(values.notna(), None), errors="coerce", format="mixed")
    if isinstance(full.dtype, pd.DatetimeTZDtype):
        full = full.dt.tz_convert("UTC").dt.tz_localize(None)
    return full


def _timestamp_reasons(
    dates: pd.Series, closed_at: pd.Series | None, as_of: pd.Series | None, metrics: dict[str, float]
) -> list[tuple[str, str]]:
    reasons: list[tuple[str, str]] = []
    if closed_at is not None:
        both = dates.notna() & closed_at.notna()
        n = int(both.sum())
        if n >= _MIN_SUBSET_ROWS:
            # Same calendar day counts as "at the outcome": won_date vs a closed_at with a time of day.
            share = float((dates[both].dt.floor("D") >= closed_at[both].dt.floor("D")).mean())
            metrics["share_at_or_after_closed_at"] = round(share, 4)
            if share > _POST_TIMESTAMP_SHARE:
                reasons.append(
                    ("post_outcome_timestamp", f"{share:.0%} of {n:,} values are at/after closed_at")
                )
    if as_of is not None:
        both = dates.notna() & as_of.notna()
        n = int(both.sum())
        if n >= _MIN_SUBSET_ROWS:
            share = float((dates[both] > as_of[both]).mean())
            metrics["share_after_as_of"] = round(share, 4)
            if share > _POST_TIMESTAMP_SHARE and not reasons:
                reasons.append(
                    (
                        "post_outcome_timestamp",
                        f"{share:.0%} of {n:,} values are after as_of: unknown when scored",
                    )
                )
    return reasons


def _as_of(leads: pd.DataFrame, offset_days: int) -> pd.Series | None:
    if canonical.CREATED_AT not in leads.columns or leads[canonical.CREATED_AT].dtype.kind != "M":
        return None
    return leads[canonical.CREATED_AT] + pd.Timedelta(days=offset_days)


# ---- activity types ----------------------------------------------------------------------------------------
def _post_outcome_activity_types(
    leads: pd.DataFrame, activities: pd.DataFrame, params: LeakageParams, offset_days: int
) -> list[LeakSuspect]:
    """Activity types that happen after the outcome (or for won leads only)."""
    needed = {canonical.ACTIVITY_LEAD_ID, canonical.ACTIVITY_AT, canonical.ACTIVITY_TYPE}
    if not needed <= set(activities.columns) or activities[canonical.ACTIVITY_AT].dtype.kind != "M":
        return []
    if leads[canonical.CLOSED_AT].dtype.kind != "M" or leads[canonical.CREATED_AT].dtype.kind != "M":
        return []
    leads = leads.drop_duplicates(canonical.LEAD_ID)  # duplicate ids are the gate's problem, not a crash here
    # Index arithmetic instead of a merge: 1M events against 50k leads in well under a second.
    lead_index = pd.Index(leads[canonical.LEAD_ID]).get_indexer(activities[canonical.ACTIVITY_LEAD_ID])
    known = lead_index >= 0
    if not known.any():
        return []
    lead_index = lead_index[known]
    created = leads[canonical.CREATED_AT].to_numpy()[lead_index]
    closed = leads[canonical.CLOSED_AT].to_numpy()[lead_index]
    label = pd.to_numeric(leads[canonical.LABEL], errors="coerce").to_numpy(dtype=float)
    at = activities[canonical.ACTIVITY_AT].to_numpy()[known]
    codes, types = pd.factorize(activities[canonical.ACTIVITY_TYPE].to_numpy()[known])
    n_types = len(types)
    has_close = ~np.isnat(closed)
    after_close = has_close & (at >= closed)
    before_as_of = at < created + np.timedelta64(offset_days, "D")
    n_events = np.bincount(codes[codes >= 0], minlength=n_types)
    n_closed = np.bincount(codes[(codes >= 0) & has_close], minlength=n_types)
    n_after = np.bincount(codes[(codes >= 0) & after_close], minlength=n_types)
    n_before = np.bincount(codes[(codes >= 0) & before_as_of], minlength=n_types)
    # Lead level: does a type occur on won leads only? Count each (type, lead) pair once.
    labelled = (codes >= 0) & np.isin(label[lead_index], (0.0, 1.0))
    pairs = np.unique(codes[labelled].astype(np.int64) * len(leads) + lead_index[labelled])
    pair_type, pair_lead = pairs // len(leads), pairs % len(leads)
    n_leads_of = np.bincount(pair_type, minlength=n_types)
    n_won_of = np.bincount(pair_type, weights=label[pair_lead] == 1.0, minlength=n_types).astype(np.int64)
    base = float(np.nanmean(np.where(np.isin(label, (0.0, 1.0)), label, np.nan)))
    suspects = []
    for k, activity_type in enumerate(types):
        if n_events[k] < _MIN_SUBSET_ROWS:
            continue
        after_share = n_after[k] / n_closed[k] if n_closed[k] else 0.0
        n_leads, n_won_leads = int(n_leads_of[k]), int(n_won_of[k])
        won_only = (
            n_leads >= _MIN_SUBSET_ROWS
            and n_won_leads / n_leads >= params.exclusive_fill_purity
            and binomtest(n_won_leads, n_leads, base, alternative="greater").pvalue < _MAX_PURITY_P_VALUE
        )
        if after_share < params.post_outcome_share and not won_only:
            continue
        before_share = n_before[k] / n_events[k]
        parts = []
        if after_share >= params.post_outcome_share:
            parts.append(f"{after_share:.0%} of {int(n_closed[k]):,} events at/after closed_at")
        if won_only:
            parts.append(f"{n_won_leads / n_leads:.0%} of its {n_leads:,} leads won (base rate {base:.1%})")
        blocking = bool(before_share > params.max_post_outcome_before_as_of)
        tail = (
            f"{before_share:.1%} of events before as_of (created_at + {offset_days} d) reach the features"
            if blocking
            else f"{before_share:.1%} of events before as_of, so the as-of filter drops them"
        )
        suspects.append(
            LeakSuspect(
                name=f"{ACTIVITY_PREFIX}{activity_type}",
                kind="post_outcome_activity",
                evidence=f"post-outcome activity type: {'; '.join(parts)}; {tail}",
                blocking=blocking,
                metrics={
                    "events": int(n_events[k]),
                    "share_after_closed_at": round(float(after_share), 4),
                    "won_lead_share": round(n_won_leads / n_leads, 4) if n_leads else 0.0,
                    "share_before_as_of": round(float(before_share), 4),
                },
            )
        )
    return suspects


# ---- allow list --------------------------------------------------------------------------------------------
def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def _normalised_allow(allow: Sequence[str]) -> set[str]:
    return {_norm(a) for a in allow}


def _with_allow(suspect: LeakSuspect, allowed: set[str]) -> LeakSuspect:
    name = suspect.name
    forms = {_norm(name)}
    for prefix in (canonical.EXTRA_CATEGORICAL_PREFIX, canonical.EXTRA_NUMERIC_PREFIX, ACTIVITY_PREFIX):
        if name.startswith(prefix):
            forms.add(_norm(name[len(prefix) :]))
    if forms & allowed:
        return LeakSuspect(
            name=suspect.name,
            kind=suspect.kind,
            evidence=suspect.evidence,
            blocking=suspect.blocking,
            allowed=True,
            metrics=suspect.metrics,
        )
    return suspect
