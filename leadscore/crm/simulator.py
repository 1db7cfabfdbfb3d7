"""A simulated B2B CRM whose true conversion probability is known exactly.

Why simulate at all: on real exports nobody knows how good a lead score *could* be. Here every lead carries
``true_p``, the Bayes probability of conversion given exactly what is observable at the scoring moment
(``as_of = created_at + as_of_offset_days``), so the pipeline can be graded against the ceiling: a model that
beats ``true_p`` on held-out leads is reading the future (leakage), one far below it is under-fitting.

How ``true_p`` stays Bayes:

* Firmographic and BANT values are drawn first, then missing enrichment is applied. The true logit is computed
  from the *observed* values only; a missing value is a level of its own with its own effect.
* A latent engagement rate drives how many activities happen before ``as_of``. The outcome depends on it only
  through the observed activities (counts per type in 7/30/90-day windows, recency and a decayed count), so
  conditioning on the observed activity log is enough.
* The label is then drawn as ``Bernoulli(true_p)``. What happens after ``as_of`` (sales-stage activity that is
  more frequent for won deals, post-close activity for won deals only) depends on the label: features built
  without the point-in-time filter beat the Bayes limit, which is the leakage trap the tests use.

Covariate drift moves the industry, source, size and region mix over the years while P(label | observables)
stays fixed, so a calibrated model stays calibrated on later periods.

Leads created in the last ``as_of_offset_days`` before the export have not reached their scoring moment; their
activity is truncated at the export like everyone else's, so their ``true_p`` (computed for the full window)
is only meaningful once they mature. They are open and the label policy drops them anyway.

Everything is vectorised numpy: 50k leads with ~1M activities take a few seconds, deterministic for a seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.core import canonical
from leadscore.core.errors import SourceError
from leadscore.core.params import SimulateParams

logger = logging.getLogger(__name__)

DAY_S = 86_400.0

# ---- categorical vocabularies with their (fixed) logit effects ----------------------------------
INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Government",
    "Professional Services",
    "Telecommunications",
    "Media",
)
_INDUSTRY_EFFECT = np.array([0.50, 0.30, 0.10, 0.0, -0.20, -0.45, -0.55, 0.20, 0.10, -0.15])
_INDUSTRY_BASE = np.array([1.2, 0.7, 0.6, 0.7, 0.5, 0.4, 0.3, 0.6, 0.3, 0.3])
# Drift direction of the log-odds of the industry mix per unit of time (start -> end of the window).
_INDUSTRY_DRIFT = np.array([0.6, 0.2, 0.5, -0.6, -0.4, -0.3, -0.5, 0.2, 0.0, 0.3])
# Typical company size (log10 employees shift) per industry.
_INDUSTRY_SIZE = np.array([0.0, 0.35, 0.3, 0.4, 0.2, 0.1, 0.5, -0.2, 0.45, -0.2])
_MISSING_INDUSTRY_EFFECT = -0.30

COUNTRIES = (
    "United States",
    "Canada",
    "United Kingdom",
    "Germany",
    "France",
    "Netherlands",
    "Spain",
    "Sweden",
    "South Africa",
    "India",
    "Australia",
    "Singapore",
    "Japan",
    "Brazil",
    "Mexico",
)
REGIONS = (
    "NA",
    "NA",
    "EMEA",
    "EMEA",
    "EMEA",
    "EMEA",
    "EMEA",
    "EMEA",
    "EMEA",
    "APAC",
    "APAC",
    "APAC",
    "APAC",
    "LATAM",
    "LATAM",
)
_COUNTRY_BASE = np.log(np.array([30, 5, 8, 7, 5, 3, 3, 2, 1.5, 6, 3, 2, 2, 3, 2], dtype=float))
_REGION_EFFECT = {"NA": 0.20, "EMEA": 0.0, "APAC": -0.10, "LATAM": -0.35}
_COUNTRY_EXTRA = np.array(
    [0.05, 0.0, 0.1, 0.1, -0.05, 0.05, -0.1, 0.05, -0.1, -0.15, 0.1, 0.1, -0.2, 0.0, -0.1]
)
_COUNTRY_EFFECT = np.array([_REGION_EFFECT[r] for r in REGIONS]) + _COUNTRY_EXTRA
_REGION_DRIFT = {"NA": -0.4, "EMEA": 0.0, "APAC": 0.6, "LATAM": 0.3}
_COUNTRY_DRIFT = np.array([_REGION_DRIFT[r] for r in REGIONS])
_MISSING_COUNTRY_EFFECT = -0.20

LEAD_SOURCES = (
    "web form",
    "paid search",
    "webinar",
    "referral",
    "event",
    "outbound",
    "partner",
    "content syndication",
)
_SOURCE_EFFECT = np.array([0.10, -0.10, 0.10, 0.60, 0.20, -0.40, 0.30, -0.60])
_SOURCE_BASE = np.log(np.array([25, 18, 8, 6, 7, 15, 5, 10], dtype=float))
_SOURCE_DRIFT = np.array([0.0, 0.6, 0.3, -0.2, -0.7, -0.3, 0.1, 0.7])
# Leads from some sources interact more with marketing (drives activity volume, not the outcome directly).
_SOURCE_ENGAGEMENT = np.array([0.2, 0.0, 0.4, 0.1, 0.2, -0.4, 0.0, -0.2])

SENIORITY_LEVELS = ("C-level", "VP", "Director", "Manager", "Individual contributor", "Student/Intern")
_LEVEL_P = np.array([0.08, 0.10, 0.17, 0.27, 0.33, 0.05])
_LEVEL_EFFECT = np.array([0.45, 0.55, 0.40, 0.15, -0.20, -1.60])
_MISSING_TITLE_EFFECT = -0.30
_TITLE_MISSING_RATE = 0.03

BUDGET_VALUES = ("approved", "planned", "none", "unknown")
_BUDGET_P = np.array([0.15, 0.25, 0.20, 0.40])
_BUDGET_EFFECT = np.array([0.75, 0.35, -0.70, 0.0])

TIMEFRAMES = ("<1 month", "1-3 months", "3-6 months", "6-12 months", "unknown")
_TIMEFRAME_P = np.array([0.10, 0.22, 0.23, 0.15, 0.30])
_TIMEFRAME_EFFECT = np.array([0.55, 0.40, 0.10, -0.30, -0.10])

NEEDS = (
    "sales automation",
    "marketing analytics",
    "customer support",
    "data integration",
    "reporting",
    "compliance",
)
_NEED_P = np.array([0.22, 0.20, 0.16, 0.16, 0.16, 0.10])
_NEED_EFFECT = np.array([0.30, 0.15, 0.0, 0.10, -0.25, -0.10])
_NEED_MISSING_RATE = 0.05
_MISSING_NEED_EFFECT = -0.15

# ---- activities ---------------------------------------------------------------------------------
# Types observable before as_of. Rates are expected events per lead at engagement 1:
# _PRE_RATE over the 100 days before creation (anonymous visits matched to the lead), _POST_RATE over the
# first 14 days after creation (scaled by the as-of offset).
INTENT_TYPES = (
    "email_open",
    "email_click",
    "content_download",
    "pricing_page",
    "case_study_view",
    "webinar_attended",
    "demo_request",
    "free_trial_signup",
    "meeting_booked",
)
_PRE_RATE = np.array([1.2, 0.3, 0.4, 0.25, 0.15, 0.10, 0.03, 0.02, 0.0])
_POST_RATE = np.array([2.5, 0.7, 0.5, 0.45, 0.25, 0.12, 0.13, 0.07, 0.06])
# After as_of the same lead keeps interacting at this rate per 30 days (for every outcome).
_CONTINUE_RATE = np.array([2.0, 0.5, 0.3, 0.3, 0.15, 0.08, 0.05, 0.03, 0.1])
PRE_CREATION_DAYS = 100.0
# Sales-stage activity between as_of and close: expected counts for won / lost deals. Much more frequent for
# won deals, so a feature that counts them without the as-of filter "predicts" the outcome.
_STAGE_TYPES = ("proposal_viewed", "meeting_booked", "pricing_page", "demo_request")
_STAGE_WON = np.array([2.0, 2.5, 1.0, 0.5])
_STAGE_LOST = np.array([0.25, 0.6, 0.3, 0.1])
# Types that only exist after a deal closes won.
POST_OUTCOME_TYPES = ("contract_signed", "onboarding_session", "invoice_paid")
ACTIVITY_TYPES = (*INTENT_TYPES, "proposal_viewed", *POST_OUTCOME_TYPES)

_ENGAGEMENT_SHAPE = 0.8
_DECAY_HALF_LIFE_DAYS = 14.0
_INTERCEPT = -3.7

# ---- contact titles -----------------------------------------------------------------------------
_DEPARTMENTS = (
    "Sales",
    "Marketing",
    "IT",
    "Engineering",
    "Operations",
    "Procurement",
    "Finance",
    "HR",
    "Product",
    "Customer Success",
    "Data",
)
_C_LEVEL_TITLES = (
    "CEO",
    "Chief Executive Officer",
    "Founder & CEO",
    "Co-Founder and CEO",
    "CTO",
    "Chief Technology Officer",
    "CFO",
    "Chief Financial Officer",
    "COO",
    "Chief Operating Officer",
    "CMO",
    "Chief Marketing Officer",
    "CIO",
    "Chief Information Officer",
    "Chief Revenue Officer",
    "CRO",
    "President",
    "Owner",
    "Co-founder & CTO",
)
_LEVEL_PATTERNS: dict[str, tuple[str, ...]] = {
    "VP": (
        "VP of {d}",
        "VP {d}",
        "Vice President, {d}",
        "SVP {d}",
        "Senior Vice President of {d}",
        "EVP, {d}",
        "V.P. {d}",
        "VP, {d}",
    ),
    "Director": (
        "Director of {d}",
        "{d} Director",
        "Dir. {d}",
        "Head of {d}",
        "Senior Director, {d}",
        "Sr. Director {d}",
        "Global Head of {d}",
    ),
    "Manager": (
        "{d} Manager",
        "Manager, {d}",
        "Sr. Manager, {d}",
        "Senior {d} Manager",
        "{d} Team Lead",
        "Mgr {d}",
        "Manager - {d}",
    ),
    "Individual contributor": (
        "{d} Specialist",
        "{d} Analyst",
        "Senior {d} Analyst",
        "{d} Associate",
        "{d} Coordinator",
        "{d} Consultant",
        "{d} Executive",
    ),
    "Student/Intern": ("{d} Intern", "Intern, {d}", "Summer Intern - {d}", "{d} Working Student"),
}
_EXTRA_TITLES = {
    "Individual contributor": (
        "Software Engineer",
        "Account Executive",
        "Data Scientist",
        "Sr. Software Engineer",
        "Business Analyst",
        "Buyer",
        "Developer",
    ),
    "Student/Intern": ("Student", "Graduate Student", "PhD Student", "MBA Candidate", "marketing intern"),
}

_FIRST_NAMES = np.array(
    [
        "Alex",
        "Maria",
        "John",
        "Priya",
        "Wei",
        "Fatima",
        "Lucas",
        "Emma",
        "Kenji",
        "Sofia",
        "Omar",
        "Anna",
        "David",
        "Chloe",
        "Rahul",
        "Laura",
        "Mateo",
        "Hannah",
        "Ivan",
        "Grace",
    ]
)
_LAST_NAMES = np.array(
    [
        "Smith",
        "Garcia",
        "Müller",
        "Patel",
        "Chen",
        "Khan",
        "Silva",
        "Johansson",
        "Tanaka",
        "Rossi",
        "Dubois",
        "Nowak",
        "Brown",
        "Kim",
        "Singh",
        "Martin",
        "Lopez",
        "Berg",
    ]
)


@dataclass(frozen=True)
class SimulatedExport:
    """A simulated CRM export in export shape (the default mapping is the identity).

    Attributes:
        leads: one row per lead, including fake PII (so that PII stripping is exercised) and ``true_p``.
        activities: lead_id, occurred_at, activity_type; truncated at ``export_time``.
        export_time: the moment the export was taken; later events do not exist yet.
    """

    leads: pd.DataFrame
    activities: pd.DataFrame
    export_time: pd.Timestamp


def _title_vocabulary() -> tuple[np.ndarray, np.ndarray]:
    """All title strings and their seniority level index (built once per call; cheap)."""
    titles: list[str] = []
    levels: list[int] = []
    for level_index, level in enumerate(SENIORITY_LEVELS):
        if level == "C-level":
            level_titles = list(_C_LEVEL_TITLES)
        else:
            level_titles = [p.format(d=d) for p in _LEVEL_PATTERNS[level] for d in _DEPARTMENTS]
            level_titles += list(_EXTRA_TITLES.get(level, ()))
        titles += level_titles
        levels += [level_index] * len(level_titles)
    return np.array(titles, dtype=object), np.array(levels)


def _sample_rows(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """Draw one category per row from row-specific logits (n, k) with inverse-CDF sampling."""
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(len(logits))[:, None]
    return np.minimum((u > cdf).sum(axis=1), logits.shape[1] - 1)


def _intent_logit(
    lead_index: np.ndarray, type_index: np.ndarray, age_days: np.ndarray, n_leads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Logit contribution of the activities observed before as_of, plus their count per lead.

    Only events with ``0 < age_days`` (strictly before as_of) may be passed in. The terms are plain window
    counts, recency and a decayed count, so a feature builder with 7/30/90-day windows can learn them.
    """
    counts: dict[tuple[str, int], np.ndarray] = {}
    for window in (7, 30, 90):
        in_window = age_days <= window
        flat = lead_index[in_window] * len(INTENT_TYPES) + type_index[in_window]
        matrix = np.bincount(flat, minlength=n_leads * len(INTENT_TYPES)).reshape(n_leads, len(INTENT_TYPES))
        for k, name in enumerate(INTENT_TYPES):
            counts[(name, window)] = matrix[:, k].astype(float)

    def c(name: str, window: int) -> np.ndarray:
        return counts[(name, window)]

    logit = (
        1.00 * (c("demo_request", 30) > 0)
        + 0.30 * (c("demo_request", 7) > 0)
        + 0.45 * np.log1p(c("pricing_page", 30))
        + 0.25 * np.log1p(c("pricing_page", 7))
        + 0.85 * (c("free_trial_signup", 90) > 0)
        + 0.35 * (c("webinar_attended", 90) > 0)
        + 0.08 * np.log1p(c("email_open", 90))
        + 0.25 * np.log1p(c("email_click", 30))
        + 0.15 * np.log1p(c("content_download", 90))
        + 0.25 * (c("case_study_view", 30) > 0)
        + 0.40 * (c("meeting_booked", 30) > 0)
    )
    in_90 = age_days <= 90
    decayed = np.bincount(
        lead_index[in_90], weights=0.5 ** (age_days[in_90] / _DECAY_HALF_LIFE_DAYS), minlength=n_leads
    )
    logit += 0.35 * np.log1p(decayed)
    # Recency: days since the latest event before as_of (within 90 days); no event at all is its own level.
    recency = np.full(n_leads, np.inf)
    np.minimum.at(recency, lead_index[in_90], age_days[in_90])
    has_recent = np.isfinite(recency)
    logit += np.where(has_recent, -0.012 * np.minimum(recency, 90.0), -0.45)
    n_events = np.bincount(lead_index[in_90], minlength=n_leads)
    return logit, n_events


def export_time(params: SimulateParams) -> pd.Timestamp:
    """When the simulated export is taken: the end of its window, not the real clock.

    A simulated CRM may be set in the future (``simulate.start``); its "now" is this moment, which is what the
    pull stage uses as pull time (maturity reference, latest plausible timestamp) for simulator sources.
    """
    return pd.Timestamp(params.start) + pd.Timedelta(days=params.days)


def simulate_crm(params: SimulateParams, seed: int, as_of_offset_days: int) -> SimulatedExport:
    """Generate a simulated CRM export whose ``true_p`` is the Bayes probability at as_of.

    Args:
        params: size, time window, missing-enrichment rate, drift strength and open-lead window.
        seed: the only source of randomness; same seed and params give identical frames.
        as_of_offset_days: the scoring moment after creation that ``true_p`` refers to (base.*).

    Returns:
        The export in export shape (identity mapping) with ``export_time`` at the end of the window.
    """
    rng = np.random.default_rng(seed)
    n = params.n_leads
    start = pd.Timestamp(params.start)
    start_s = start.value / 1e9
    window_s = params.days * DAY_S
    export_s = start_s + window_s
    offset_s = as_of_offset_days * DAY_S

    # -- creation time and drift position ---------------------------------------------------------
    created_s = np.sort(start_s + rng.random(n) * window_s).round()
    t = (created_s - start_s) / window_s - 0.5  # -0.5 .. 0.5 across the window
    drift = params.drift_strength * t[:, None]

    industry = _sample_rows(rng, np.log(_INDUSTRY_BASE)[None, :] + drift * _INDUSTRY_DRIFT[None, :])
    source = _sample_rows(rng, _SOURCE_BASE[None, :] + drift * _SOURCE_DRIFT[None, :])
    country = _sample_rows(rng, _COUNTRY_BASE[None, :] + drift * _COUNTRY_DRIFT[None, :])

    # Company size: lognormal, bigger companies become more common over time (moving up-market).
    log_emp = 1.9 + _INDUSTRY_SIZE[industry] + 0.5 * params.drift_strength * t + rng.normal(0, 0.8, n)
    employees = np.clip(np.round(10 ** np.clip(log_emp, 0, 5)), 1, 100_000)
    log_rev_per_emp = np.log(150_000) + 0.3 * (_INDUSTRY_EFFECT[industry]) + rng.normal(0, 0.5, n)
    annual_revenue = np.round(employees * np.exp(log_rev_per_emp), -3)
    # Company age at the lead's creation (observable as creation year - founded_year).
    company_age = np.clip(
        np.round(rng.lognormal(np.log(8) + 0.35 * (np.log10(employees) - 1.5), 0.8)), 0, 120
    )
    created_year = pd.to_datetime(created_s, unit="s").year.to_numpy()
    founded_year = created_year - company_age

    # Seniority correlates mildly with company size (small companies: founders answer the form).
    level_logits = np.log(_LEVEL_P)[None, :] + np.outer(1.5 - np.log10(employees), [0.4, 0, 0, 0, 0, 0]).clip(
        0
    )
    level = _sample_rows(rng, level_logits)
    budget = rng.choice(len(BUDGET_VALUES), n, p=_BUDGET_P)
    timeframe = rng.choice(len(TIMEFRAMES), n, p=_TIMEFRAME_P)
    need = rng.choice(len(NEEDS), n, p=_NEED_P)

    # -- missing enrichment: more for small companies, some records not enriched at all -----------
    size_factor = np.where(employees < 50, 1.7, np.where(employees > 1000, 0.45, 1.0))
    record_missing = rng.random(n) < 0.4 * params.missing_enrichment_rate * size_factor

    def missing_mask() -> np.ndarray:
        return record_missing | (rng.random(n) < 0.6 * params.missing_enrichment_rate * size_factor)

    miss_industry, miss_employees, miss_revenue, miss_country, miss_founded = (
        missing_mask() for _ in range(5)
    )
    miss_title = rng.random(n) < _TITLE_MISSING_RATE
    miss_need = rng.random(n) < _NEED_MISSING_RATE

    # -- observable logit (fixed over time: drift moves the mix only) -----------------------------
    obs_log_emp = np.log10(employees)
    logit = np.full(n, _INTERCEPT)
    logit += np.where(miss_industry, _MISSING_INDUSTRY_EFFECT, _INDUSTRY_EFFECT[industry])
    # Mid-market sweet spot on company size.
    logit += np.where(miss_employees, -0.25, 0.35 - 0.22 * (obs_log_emp - 2.7) ** 2)
    rev_term = 0.12 * np.clip(np.log10(np.maximum(annual_revenue, 1)) - 7.0, -2, 2)
    logit += np.where(miss_revenue, -0.05, rev_term)
    logit += np.where(miss_country, _MISSING_COUNTRY_EFFECT, _COUNTRY_EFFECT[country])
    logit += np.where(miss_founded, -0.1, -0.30 * (company_age < 3) + 0.10 * (company_age > 20))
    logit += np.where(miss_title, _MISSING_TITLE_EFFECT, _LEVEL_EFFECT[level])
    logit += _BUDGET_EFFECT[budget] + _TIMEFRAME_EFFECT[timeframe] + _SOURCE_EFFECT[source]
    logit += np.where(miss_need, _MISSING_NEED_EFFECT, _NEED_EFFECT[need])
    # Mild interaction: a senior contact with an approved budget is more than the sum of both.
    senior = ~miss_title & (level <= 2)
    logit += 0.40 * (senior & (budget == 0))

    # -- activities observed before as_of ---------------------------------------------------------
    engagement = rng.gamma(_ENGAGEMENT_SHAPE, 1 / _ENGAGEMENT_SHAPE, n) * np.exp(
        _SOURCE_ENGAGEMENT[source] + 0.15 * (level <= 3) - 0.1
    )
    # Leads "heat up" or "cool down" after creation: shapes the timing of post-creation events (recency).
    heat = rng.choice(np.array([0.5, 1.0, 3.0]), n, p=[0.35, 0.4, 0.25])
    post_scale = as_of_offset_days / 14.0
    pre_counts = rng.poisson(engagement[:, None] * _PRE_RATE[None, :])
    post_counts = rng.poisson(engagement[:, None] * _POST_RATE[None, :] * post_scale)

    pre_lead, pre_type = _expand(pre_counts)
    pre_time = created_s[pre_lead] - rng.random(len(pre_lead)) * PRE_CREATION_DAYS * DAY_S
    post_lead, post_type = _expand(post_counts)
    post_time = created_s[post_lead] + rng.random(len(post_lead)) ** (1 / heat[post_lead]) * offset_s
    obs_lead = np.concatenate([pre_lead, post_lead])
    obs_type = np.concatenate([pre_type, post_type])
    obs_time = np.concatenate([pre_time, post_time]).round()
    as_of_s = created_s + offset_s
    obs_age = (as_of_s[obs_lead] - obs_time) / DAY_S
    # Rounding can push an event onto as_of itself: move it one second earlier so "before as_of" holds.
    on_edge = obs_age <= 0
    obs_time[on_edge] = as_of_s[obs_lead[on_edge]] - 1
    obs_age = (as_of_s[obs_lead] - obs_time) / DAY_S

    intent, _ = _intent_logit(obs_lead, obs_type, obs_age, n)
    demo_recent = (
        np.bincount(obs_lead[(obs_type == INTENT_TYPES.index("demo_request")) & (obs_age <= 30)], minlength=n)
        > 0
    )
    # Mild interaction: a demo request with a near-term purchase timeframe.
    intent += 0.30 * (demo_recent & (timeframe <= 1))
    logit += intent

    true_p = 1.0 / (1.0 + np.exp(-logit))
    won = rng.random(n) < true_p

    # -- outcome timing: sales cycle always ends after as_of; won deals take longer ---------------
    min_cycle = max(21.0, as_of_offset_days + 7.0)
    cycle_days = np.where(won, rng.gamma(3.0, 30.0, n), rng.gamma(2.0, 22.0, n)) + min_cycle
    cycle_days = np.minimum(cycle_days, max(200.0, min_cycle + 30))
    closed_s = created_s + cycle_days * DAY_S
    # Only leads created within the last open_lead_days may still be open; older deals closed before the
    # export (their cycle is cut short) so that matured leads never carry a wrong label.
    old = created_s < export_s - params.open_lead_days * DAY_S
    cap = export_s - rng.random(n) * DAY_S
    closed_s = np.where(old & (closed_s > cap) & (cap > created_s + min_cycle * DAY_S), cap, closed_s).round()
    is_open = closed_s >= export_s
    first_contact_s = (created_s + np.exp(rng.normal(np.log(6 * 3600), 1.3, n))).round()
    first_contact_s = np.where(first_contact_s >= export_s, np.nan, first_contact_s)

    # -- activities after as_of (the leakage trap) ------------------------------------------------
    end_s = np.minimum(closed_s, export_s)
    after_days = np.maximum(end_s - as_of_s, 0) / DAY_S
    cont_counts = rng.poisson(engagement[:, None] * _CONTINUE_RATE[None, :] * (after_days / 30.0)[:, None])
    cont_lead, cont_type = _expand(cont_counts)
    cont_time = as_of_s[cont_lead] + rng.random(len(cont_lead)) * (closed_s - as_of_s)[cont_lead]
    stage_counts = rng.poisson(np.where(won[:, None], _STAGE_WON[None, :], _STAGE_LOST[None, :]))
    stage_lead, stage_type_local = _expand(stage_counts)
    stage_time = as_of_s[stage_lead] + rng.random(len(stage_lead)) * (closed_s - as_of_s)[stage_lead]
    stage_names = np.array(_STAGE_TYPES, dtype=object)[stage_type_local]

    # Post-outcome activity exists only for won deals and only after closed_at.
    won_idx = np.flatnonzero(won)
    n_onboarding = 1 + rng.poisson(1.5, len(won_idx))
    onboard_lead = np.repeat(won_idx, n_onboarding)
    post_lead_all = np.concatenate([won_idx, onboard_lead, won_idx])
    post_time_all = np.concatenate(
        [
            closed_s[won_idx] + 3600 + rng.random(len(won_idx)) * 3 * DAY_S,
            closed_s[onboard_lead] + (2 + rng.random(len(onboard_lead)) * 40) * DAY_S,
            closed_s[won_idx] + (25 + rng.random(len(won_idx)) * 20) * DAY_S,
        ]
    )
    post_names = np.repeat(
        np.array(POST_OUTCOME_TYPES, dtype=object), [len(won_idx), len(onboard_lead), len(won_idx)]
    )

    intent_names = np.array(INTENT_TYPES, dtype=object)
    act_lead = np.concatenate([obs_lead, cont_lead, stage_lead, post_lead_all])
    act_time = np.concatenate([obs_time, cont_time, stage_time, post_time_all]).round()
    act_type = np.concatenate([intent_names[obs_type], intent_names[cont_type], stage_names, post_names])
    # Nothing after the export exists yet (this truncates open leads' post-as-of activity too).
    keep = act_time < export_s
    act_lead, act_time, act_type = act_lead[keep], act_time[keep], act_type[keep]
    order = np.lexsort((act_time, act_lead))
    act_lead, act_time, act_type = act_lead[order], act_time[order], act_type[order]

    # -- assemble the export ----------------------------------------------------------------------
    lead_ids = np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), 6)).astype(object)
    title_vocab, title_levels = _title_vocabulary()
    titles = _pick_titles(rng, level, title_vocab, title_levels)
    titles[miss_title] = None

    status = np.where(
        is_open, canonical.OUTCOME_OPEN, np.where(won, canonical.OUTCOME_WON, canonical.OUTCOME_LOST)
    )
    leads = pd.DataFrame(
        {
            canonical.LEAD_ID: lead_ids,
            canonical.CREATED_AT: _to_datetime(created_s),
            canonical.CLOSED_AT: _to_datetime(np.where(is_open, np.nan, closed_s)),
            canonical.STATUS: status.astype(object),
            canonical.FIRST_CONTACT_AT: _to_datetime(first_contact_s),
            "contact_name": np.char.add(
                np.char.add(_FIRST_NAMES[rng.integers(0, len(_FIRST_NAMES), n)], " "),
                _LAST_NAMES[rng.integers(0, len(_LAST_NAMES), n)],
            ).astype(object),
            "email": np.char.add(np.char.add("contact", np.arange(n).astype(str)), "@example.com").astype(
                object
            ),
            "phone": np.char.add("+1-555-", np.char.zfill(rng.integers(0, 10**7, n).astype(str), 7)).astype(
                object
            ),
            canonical.INDUSTRY: _with_missing(np.array(INDUSTRIES, dtype=object)[industry], miss_industry),
            canonical.EMPLOYEES: np.where(miss_employees, np.nan, employees),
            canonical.ANNUAL_REVENUE: np.where(miss_revenue, np.nan, annual_revenue),
            canonical.COUNTRY: _with_missing(np.array(COUNTRIES, dtype=object)[country], miss_country),
            canonical.FOUNDED_YEAR: np.where(miss_founded, np.nan, founded_year.astype(float)),
            canonical.CONTACT_TITLE: titles,
            canonical.BUDGET: np.array(BUDGET_VALUES, dtype=object)[budget],
            canonical.TIMELINE: np.array(TIMEFRAMES, dtype=object)[timeframe],
            canonical.NEED: _with_missing(np.array(NEEDS, dtype=object)[need], miss_need),
            canonical.LEAD_SOURCE: np.array(LEAD_SOURCES, dtype=object)[source],
            canonical.TRUE_P: true_p,
        }
    )
    activities = pd.DataFrame(
        {
            canonical.ACTIVITY_LEAD_ID: lead_ids[act_lead],
            canonical.ACTIVITY_AT: _to_datetime(act_time),
            canonical.ACTIVITY_TYPE: act_type,
        }
    )
    logger.info(
        "simulated %d leads (%.1f%% won, %d open) and %d activities",
        n,
        100 * won[~is_open].mean() if (~is_open).any() else 0.0,
        int(is_open.sum()),
        len(activities),
    )
    return SimulatedExport(
        leads=leads, activities=activities, export_time=pd.Timestamp(_to_datetime([export_s])[0])
    )


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn an (n, k) count matrix into one (row, column) pair per event."""
    flat = counts.ravel()
    cells = np.repeat(np.arange(flat.size), flat)
    return cells // counts.shape[1], cells % counts.shape[1]


def _pick_titles(
    rng: np.random.Generator, level: np.ndarray, vocab: np.ndarray, vocab_levels: np.ndarray
) -> np.ndarray:
    """Draw a title string of the lead's seniority level; some are typed in lower case, as people do."""
    titles = np.empty(len(level), dtype=object)
    for level_index in range(len(SENIORITY_LEVELS)):
        rows = np.flatnonzero(level == level_index)
        choices = vocab[vocab_levels == level_index]
        titles[rows] = choices[rng.integers(0, len(choices), len(rows))]
    lower = rng.random(len(level)) < 0.08
    titles[lower] = np.array([s.lower() for s in titles[lower]], dtype=object)
    return titles


def _with_missing(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = values.copy()
    out[missing] = None
    return out


def _to_datetime(seconds: np.ndarray | list[float]) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(seconds, dtype=float), unit="s").as_unit("us")


def write_export(
    export: SimulatedExport,
    target: str | Path,
    file_format: str = "csv",
    *,
    leads_table: str = "leads",
    activities_table: str = "activities",
) -> list[str]:
    """Write a simulated export as files or database tables, the shapes the files and sql sources read.

    Args:
        export: the simulated export.
        target: a directory (``leads.<fmt>`` and ``activities.<fmt>`` are written into it) or a SQLAlchemy URL
            (anything with ``://``, e.g. ``sqlite:///crm.db``; the two tables are replaced).
        file_format: ``csv`` or ``parquet`` for a directory target.
        leads_table: table name for the leads in a database target.
        activities_table: table name for the activities in a database target.

    Returns:
        What was written (paths or ``url#table``, without any password), for the CLI to log.
    """
    target_str = str(target)
    if "://" in target_str:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import SQLAlchemyError

        shown = make_url(target_str).render_as_string(hide_password=True)
        engine = create_engine(target_str)
        try:
            with engine.begin() as connection:
                export.leads.to_sql(leads_table, connection, if_exists="replace", index=False, chunksize=5000)
                export.activities.to_sql(
                    activities_table, connection, if_exists="replace", index=False, chunksize=5000
                )
        except SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise SourceError(f"cannot write the simulated export to {shown}: {first}") from None
        finally:
            engine.dispose()
        return [f"{shown}#{leads_table}", f"{shown}#{activities_table}"]
    if file_format not in ("csv", "parquet"):
        raise SourceError(f"unknown export format {file_format!r}: use csv or parquet")
    directory = Path(target_str)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("leads", export.leads), ("activities", export.activities)):
        path = directory / f"{name}.{file_format}"
        if file_format == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        written.append(str(path))
    return written
