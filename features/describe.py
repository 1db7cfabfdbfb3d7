"""Business wording of features, for per-lead reasons ("Requested a demo in the last 7 days").

Sales ignores scores it cannot read, so a reason names the input in the words a rep would use, not the feature
column. Features that describe the same thing are grouped into one reason: the 7/30/90-day counts of demo
requests are one reason ("Requested a demo in the last 7 days") rather than three, and log employees plus the
size band are one ("Company size 1,000-5,000 employees").

A ``ReasonGroup`` turns model-matrix columns into a label code per lead, vectorised, so labels cost one array
lookup per lead rather than string formatting.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from leadscore.core import canonical
from leadscore.features import bant, firmographic
from leadscore.features.build import FeatureBatch
from leadscore.features.spec import OTHER, FeatureSpec, extra_feature_name
from leadscore.features.transform import FeatureTransformer

logger = logging.getLogger(__name__)

LabelKind = Literal["codes", "bins", "intent"]

# Known activity types: (what the lead did, plural noun). Unknown types get a generic wording.
_ACTIVITY_WORDS: dict[str, tuple[str, str]] = {
    "demo_request": ("Requested a demo", "demo requests"),
    "demo_requested": ("Requested a demo", "demo requests"),
    "pricing_page": ("Viewed the pricing page", "pricing page views"),
    "pricing_page_view": ("Viewed the pricing page", "pricing page views"),
    "free_trial_signup": ("Signed up for a free trial", "free-trial sign-ups"),
    "trial_signup": ("Signed up for a free trial", "free-trial sign-ups"),
    "webinar_attended": ("Attended a webinar", "webinars attended"),
    "webinar": ("Attended a webinar", "webinars attended"),
    "meeting_booked": ("Booked a meeting", "meetings booked"),
    "email_open": ("Opened a marketing email", "email opens"),
    "email_click": ("Clicked a marketing email", "email clicks"),
    "content_download": ("Downloaded content", "content downloads"),
    "whitepaper_download": ("Downloaded a whitepaper", "whitepaper downloads"),
    "case_study_view": ("Viewed a case study", "case study views"),
    "proposal_viewed": ("Viewed a proposal", "proposal views"),
    "page_view": ("Visited the website", "website visits"),
    "website_visit": ("Visited the website", "website visits"),
    "form_submit": ("Submitted a form", "form submissions"),
    "form_submission": ("Submitted a form", "form submissions"),
    "contact_sales": ("Asked to talk to sales", "requests to talk to sales"),
    "event_attended": ("Attended an event", "events attended"),
    OTHER: ("Had other activity", "other activity"),
}

_BUDGET_WORDS = {
    "approved": "Budget approved",
    "yes": "Budget approved",
    "allocated": "Budget allocated",
    "planned": "Budget planned",
    "pending": "Budget pending approval",
    "none": "No budget",
    "no": "No budget",
    "no budget": "No budget",
    "unknown": "Budget not known",
}
_AUTHORITY_WORDS = {
    bant.C_LEVEL: "Contact is C-level",
    bant.VP: "Contact is a VP",
    bant.DIRECTOR: "Contact is a director or head of department",
    bant.MANAGER: "Contact is a manager",
    bant.IC: "Contact is an individual contributor",
    bant.STUDENT: "Contact is a student or intern",
    bant.UNKNOWN: "Contact title not recognised",
}
# Categorical features: (wording with {value}, wording for "other", wording for missing).
_CATEGORY_WORDS: dict[str, tuple[str, str, str]] = {
    "firmo_industry": ("Industry: {value}", "Industry: other", "Industry unknown"),
    "firmo_country": ("Based in {value}", "Based in another country", "Country unknown"),
    "firmo_region": ("Based in {value}", "Based in another region", "Region unknown"),
    "bant_budget": ("Budget: {value}", "Budget: other", "Budget status unknown"),
    "bant_authority": ("Contact level: {value}", "Contact level: other", "No contact title"),
    "bant_need": ("Need: {value}", "Need: other", "Need not stated"),
    "acq_lead_source": ("Lead source: {value}", "Lead source: other", "Lead source unknown"),
}
_SPECIAL_VALUES = {"bant_budget": _BUDGET_WORDS, "bant_authority": _AUTHORITY_WORDS}


@dataclass(frozen=True)
class ReasonGroup:
    """One reason: which model columns it sums and how its label and value are read.

    Attributes:
        key: the reason's ``feature`` field (a feature name, or the family name for grouped features).
        members: model feature names whose contributions add up to the reason's impact.
        kind: "codes" (label code = integer column value, e.g. category code or ordinal band), "bins" (label
            code = bin of a numeric column by ``edges``) or "intent" (first window with events).
        source: model feature the label is read from (for "intent": the counts, ``members``, in window order).
        texts: label per code; for "codes"/"bins" the last text is the missing-value label.
        edges: bin edges for "bins" (code = number of edges <= value).
        value_from: ("features" | "inputs", column) where the reason's ``value`` comes from.
    """

    key: str
    members: tuple[str, ...]
    kind: LabelKind
    source: str
    texts: tuple[str, ...]
    edges: tuple[float, ...] = ()
    value_from: tuple[str, str] = ("features", "")

    def label_codes(self, X: np.ndarray, index: Mapping[str, int]) -> np.ndarray:
        """Label code per lead (int64) from the model matrix."""
        missing = len(self.texts) - 1
        if self.kind == "intent":
            counts = X[:, [index[m] for m in self.members]] > 0
            first = np.argmax(counts, axis=1)
            return np.where(counts.any(axis=1), first, counts.shape[1]).astype(np.int64)
        x = X[:, index[self.source]]
        nan = np.isnan(x)
        if self.kind == "codes":
            codes = np.where(nan, missing, np.minimum(np.maximum(x, 0), missing)).astype(np.int64)
        else:
            codes = np.asarray(self.edges).searchsorted(x, side="right").astype(np.int64)
            codes[nan] = missing
        return codes

    def label_code_one(self, row: Sequence[float], index: Mapping[str, int]) -> int:
        """``label_codes`` of one lead from its model-matrix row as Python floats (the API's one lead).

        Why: the array version costs several numpy calls per shown reason, far more than the comparisons
        themselves on one row. Same rules, same results (the fast-path tests compare both on every row):
        first intent member with a positive count; codes clipped to [0, missing] then truncated; the number
        of bin edges <= the value (``searchsorted(side="right")`` is ``bisect_right``); NaN is missing.
        """
        missing = len(self.texts) - 1
        if self.kind == "intent":
            for k, member in enumerate(self.members):
                if row[index[member]] > 0:  # NaN compares False, as in the array version
                    return k
            return len(self.members)
        x = row[index[self.source]]
        if x != x:
            return missing
        if self.kind == "codes":
            return int(min(max(x, 0.0), missing))
        return bisect_right(self.edges, x)

    def value_one(
        self, batch: FeatureBatch, row: Sequence[float], index: Mapping[str, int], code: int, lead: int = 0
    ) -> Any:
        """``values`` of lead number ``lead`` of ``batch`` (row = its model-matrix row), without arrays."""
        if self.kind == "intent":
            count = row[index[self.members[min(code, len(self.members) - 1)]]]
            # int() truncates like astype(int64); a non-finite count (never produced) keeps numpy's cast.
            return int(count) if abs(count) < 2.0**62 else np.array([count]).astype(np.int64).item()
        where, column = self.value_from
        values = (batch.features if where == "features" else batch.inputs)[column]
        if values.dtype == object:
            return values[lead]
        rounded = values[lead].round(2).item()  # numpy's rounding, as the array version
        return None if rounded != rounded else rounded

    def values(
        self, batch: FeatureBatch, X: np.ndarray, index: Mapping[str, int], codes: np.ndarray
    ) -> np.ndarray:
        """The reason's ``value`` per lead: object array of JSON-ready Python values (None when missing)."""
        if self.kind == "intent":
            counts = X[:, [index[m] for m in self.members]]
            pick = np.minimum(codes, counts.shape[1] - 1)
            return counts[np.arange(len(codes)), pick].astype(np.int64).astype(object)
        where, column = self.value_from
        values = (batch.features if where == "features" else batch.inputs)[column]
        if values.dtype == object:
            return values
        rounded = values.round(2)
        out = rounded.astype(object)
        out[np.isnan(rounded)] = None
        return out


def activity_words(activity_type: str) -> tuple[str, str]:
    """(what the lead did, plural noun) for an activity type, generic for unknown types."""
    if activity_type in _ACTIVITY_WORDS:
        return _ACTIVITY_WORDS[activity_type]
    words = activity_type.replace("_", " ")
    return f"Had '{words}' activity", f"'{words}' activity"


def _code_texts(feature: str, transformer: FeatureTransformer) -> tuple[str, ...]:
    template, other, missing = _CATEGORY_WORDS.get(
        feature, (f"{_title(feature)}: {{value}}", f"{_title(feature)}: other", f"{_title(feature)} unknown")
    )
    special = _SPECIAL_VALUES.get(feature, {})
    texts = [
        special.get(level) or template.format(value=level) for level in transformer.vocabularies_[feature]
    ]
    return (*texts, other, missing)


def _title(feature: str) -> str:
    name = feature.removeprefix("extra_").replace("_", " ")
    return name[:1].upper() + name[1:]


def _bin_texts(edges: Sequence[float], fmt: str, name: str) -> tuple[str, ...]:
    def num(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.2g}"

    texts = [f"{name} below {num(edges[0])}"]
    texts += [f"{name} {num(lo)}-{num(hi)}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    texts += [f"{name} {num(edges[-1])} or more", f"{name} unknown"]
    return tuple(t if not fmt else fmt.format(t) for t in texts)


def _quantile_edges(values: np.ndarray | None, n_bins: int = 4) -> tuple[float, ...]:
    if values is None:
        return (0.0,)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return (0.0,)
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return tuple(float(e) for e in edges) or (float(finite[0]),)


def reason_groups(
    spec: FeatureSpec, transformer: FeatureTransformer, sample: Mapping[str, np.ndarray] | None = None
) -> list[ReasonGroup]:
    """The reasons a model can give, in feature order.

    Args:
        spec: the feature spec.
        transformer: fitted transformer (category vocabularies become label texts).
        sample: raw training features, used for quantile wording of pass-through numeric extras.
    """
    names = set(spec.feature_names)
    groups: list[ReasonGroup] = []

    def codes_group(
        feature: str,
        key: str | None = None,
        members: tuple[str, ...] | None = None,
        texts: tuple[str, ...] | None = None,
        input_column: str | None = None,
    ) -> None:
        """Label = the column's code; texts default to the fitted vocabulary, value to the feature itself."""
        groups.append(
            ReasonGroup(
                key=key or feature,
                members=members or (feature,),
                kind="codes",
                source=feature,
                texts=_code_texts(feature, transformer) if texts is None else texts,
                value_from=("features", feature) if input_column is None else ("inputs", input_column),
            )
        )

    def bins_group(
        feature: str,
        edges: tuple[float, ...],
        texts: tuple[str, ...],
        key: str | None = None,
        members: tuple[str, ...] | None = None,
    ) -> None:
        """Label = bin of the numeric feature by ``edges``; the value is the feature itself."""
        groups.append(
            ReasonGroup(
                key=key or feature,
                members=members or (feature,),
                kind="bins",
                source=feature,
                edges=edges,
                texts=texts,
                value_from=("features", feature),
            )
        )

    if "firmo_industry" in names:
        codes_group("firmo_industry")
    if "firmo_size_band" in names:
        texts = tuple(f"Company size {label} employees" for label in firmographic.SIZE_LABELS)
        codes_group(
            "firmo_size_band",
            key="firmo_company_size",
            members=("firmo_log_employees", "firmo_size_band"),
            texts=(*texts, "Company size unknown"),
            input_column=canonical.EMPLOYEES,
        )
    if "firmo_revenue_band" in names:
        texts = tuple(f"Annual revenue {label}" for label in firmographic.REVENUE_LABELS)
        codes_group(
            "firmo_revenue_band",
            texts=(*texts, "Annual revenue unknown"),
            input_column=canonical.ANNUAL_REVENUE,
        )
    if "firmo_country" in names:
        codes_group("firmo_country", key="firmo_location", members=("firmo_region", "firmo_country"))
    if "firmo_company_age" in names:
        bins_group(
            "firmo_company_age",
            (2.0, 5.0, 10.0, 20.0, 50.0),
            (
                "Company founded less than 2 years ago",
                "Company 2-5 years old",
                "Company 5-10 years old",
                "Company 10-20 years old",
                "Company 20-50 years old",
                "Company over 50 years old",
                "Company age unknown",
            ),
        )
    if "firmo_founded_year" in names:
        edges = (1950.0, 1980.0, 2000.0, 2010.0, 2020.0)
        bins_group("firmo_founded_year", edges, _bin_texts(edges, "", "Founded"))
    for feature in ("bant_budget", "bant_authority", "bant_need"):
        if feature in names:
            codes_group(feature)
    if "bant_timeframe" in names:
        texts = ("Plans to buy within 1 month", *(f"Plans to buy in {t}" for t in bant.TIMEFRAME_LABELS[1:5]))
        codes_group(
            "bant_timeframe",
            texts=(*texts, "No purchase planned", "Purchase timeframe unknown"),
            input_column=canonical.TIMELINE,
        )
    if "acq_lead_source" in names:
        codes_group("acq_lead_source")
    for column in spec.extra_categorical:
        codes_group(extra_feature_name(column))
    for column in spec.extra_numeric:
        feature = extra_feature_name(column)
        edges = _quantile_edges(None if sample is None else np.asarray(sample.get(feature), dtype=np.float64))
        bins_group(feature, edges, _bin_texts(edges, "", _title(feature)))
    if spec.has_intent:
        widest = max(spec.intent_windows_days)
        for activity_type in spec.activity_types:
            did, noun = activity_words(activity_type)
            members = tuple(f"intent_{activity_type}_{w}d" for w in spec.intent_windows_days)
            texts = (
                *(f"{did} in the last {w} days" for w in spec.intent_windows_days),
                f"No {noun} in the last {widest} days",
            )
            groups.append(
                ReasonGroup(
                    key=f"intent_{activity_type}",
                    members=members,
                    kind="intent",
                    source=members[0],
                    texts=texts,
                )
            )
        bins_group(
            "intent_days_since_last",
            (1.0, 7.0, 30.0, 90.0),
            (
                "Active in the last day",
                "Last active 1-7 days ago",
                "Last active 1-4 weeks ago",
                "Last active 1-3 months ago",
                "No activity in the last 90 days",
                "No recorded activity",
            ),
        )
        bins_group(
            "intent_engagement_decayed",
            (1e-9, 1.0, 3.0, 6.0),
            (
                "No recent engagement",
                "Low recent engagement",
                "Moderate recent engagement",
                "High recent engagement",
                "Very high recent engagement",
                "Engagement unknown",
            ),
            key="intent_engagement",
            members=("intent_engagement_decayed", "intent_total"),
        )
    covered = [m for g in groups for m in g.members]
    if sorted(covered) != sorted(spec.feature_names):  # every feature must belong to exactly one reason
        raise RuntimeError(
            f"reason groups do not cover the features: {sorted(set(spec.feature_names) ^ set(covered))}"
        )
    return groups
