"""BANT features: budget, authority (parsed from the free-text job title), need and purchase timeframe.

Job titles are typed by people ("Sr. Mgr, Marketing", "co-founder & CTO", "VP Sales"), so authority is parsed
with a small ordered set of regular expressions rather than a lookup of known titles: the first matching rule
wins, and rules are ordered so that qualifiers bind correctly ("Vice President" is a VP, not a President;
"Assistant to the CEO" is not C-level; "International Sales Manager" is not an intern).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import numpy as np

from leadscore.features.columns import map_unique

logger = logging.getLogger(__name__)

# Authority levels, most senior first. "unknown" = a title was given but no rule matched.
C_LEVEL, VP, DIRECTOR, MANAGER, IC, STUDENT, UNKNOWN = (
    "c_level", "vp", "director", "manager", "individual_contributor", "student_intern", "unknown",
)  # fmt: skip
AUTHORITY_LEVELS = (C_LEVEL, VP, DIRECTOR, MANAGER, IC, STUDENT, UNKNOWN)

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (level, re.compile(pattern, re.IGNORECASE))
    for level, pattern in (
        # Assistants to executives carry the executive's title in theirs: catch them first.
        (IC, r"\b(assistant|secretary|pa)\s+to\b|\bexecutive\s+assistant\b|"
             r"\b(product|process|data|business|service)\s+owner\b"),
        (STUDENT, r"\b(intern(ship)?|student|trainee|apprentice|graduate\s+student|phd\s+(student|candidate)|"
                  r"mba\s+candidate|working\s+student|undergrad(uate)?)\b"),
        (VP, r"\b(vp|svp|evp|avp|v\.\s?p\.?|vice[\s-]+president)\b"),
        (C_LEVEL, r"\b(c[etfoimrpds]o|ciso|chief|founder|co-?founder|owner|president|managing\s+director|"
                  r"managing\s+partner|general\s+manager|proprietor)\b"),
        (DIRECTOR, r"\b(director|dir\.?|head(\s+of)?)\b"),
        (MANAGER, r"\b(manager|mgr\.?|team\s+lead(er)?|lead|supervisor|superintendent)\b"),
        (IC, r"\b(engineer|developer|analyst|specialist|associate|coordinator|consultant|executive|"
             r"representative|"
             r"rep|administrator|admin|designer|scientist|accountant|officer|buyer|architect|advisor|agent|"
             r"technician|assistant|clerk|planner|programmer|recruiter|writer|strategist|researcher|staff|"
             r"member|marketer|salesperson|teacher|nurse|physician|attorney|lawyer)\b"),
    )
)  # fmt: skip


@lru_cache(maxsize=65_536)  # titles repeat across requests; the regexes need not run again
def parse_authority(title: str | None) -> str | None:
    """Authority level of one job title; None when no title was given, "unknown" when it is not recognised.

    >>> parse_authority("Co-Founder and CEO"), parse_authority("Vice President, Sales")
    ('c_level', 'vp')
    """
    if title is None:
        return None
    for level, pattern in _RULES:
        if pattern.search(title):
            return level
    return UNKNOWN


def authority_level(titles: np.ndarray) -> np.ndarray:
    """Vectorised ``parse_authority`` (each distinct title is parsed once)."""
    return map_unique(titles, parse_authority)


# Purchase timeframe -> ordinal stage: 0 within a month ... 4 more than a year, 5 no plans; NaN unknown.
TIMEFRAME_LABELS = (
    "within 1 month", "1-3 months", "3-6 months", "6-12 months", "more than 12 months", "no purchase planned",
)  # fmt: skip
_TIMEFRAME_MONTH_EDGES = np.array([1.0, 3.0, 6.0, 12.0])
_UNIT_MONTHS = {"day": 1 / 30.4, "week": 7 / 30.4, "month": 1.0, "quarter": 3.0, "year": 12.0, "yr": 12.0}
_NUMBER_UNIT = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:-|to|–)?\s*(\d+(?:\.\d+)?)?\s*\+?\s*(day|week|month|quarter|year|yr)s?"
)
_UNKNOWN_TIMEFRAME = re.compile(r"\b(unknown|not\s+sure|unsure|tbd|n/?a|undecided|unclear)\b")
_NO_PLAN = re.compile(
    r"\b(no\s+(plans?|timeline|timeframe|purchase)|not\s+(planning|buying|looking)|never|none)\b"
)
_IMMEDIATE = re.compile(r"\b(immediate(ly)?|asap|now|urgent|this\s+month|right\s+away)\b")
_BEYOND = re.compile(r"(>|\+|\bover\b|\bmore\s+than\b|\bbeyond\b|\bafter\b|\blater\b|\bnext\s+year\b)")
_WITHIN = re.compile(r"(<|\bwithin\b|\bunder\b|\bless\s+than\b|\bup\s+to\b)")


@lru_cache(maxsize=4096)
def parse_timeframe(text: str | None) -> float:
    """Ordinal purchase-timeframe stage of one free-text value (see TIMEFRAME_LABELS); NaN when unknown.

    Handles "<1 month", "1-3 months", "6-12 months", "12+ months", "within 2 quarters", "next year", "ASAP",
    "no plans". The stage is set by the upper end of the stated range.
    """
    if text is None:
        return np.nan
    t = text.lower()
    if _UNKNOWN_TIMEFRAME.search(t):
        return np.nan
    if _NO_PLAN.search(t):
        return 5.0
    if _IMMEDIATE.search(t):
        return 0.0
    match = _NUMBER_UNIT.search(t)
    if match is None:
        if "this quarter" in t:
            return 1.0
        if "this year" in t:
            return 3.0
        if "next year" in t:
            return 4.0
        return np.nan
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    months = high * _UNIT_MONTHS[match.group(3)]
    if _BEYOND.search(t) and not _WITHIN.search(t):
        # "12+ months", "more than 6 months": beyond the stated number.
        months += 1e-6
    elif _WITHIN.search(t) and match.group(2) is None:
        # "<1 month", "within 3 months": up to the stated number.
        months -= 1e-6
    return float(np.searchsorted(_TIMEFRAME_MONTH_EDGES, months, side="left"))


def timeframe_stage(values: np.ndarray) -> np.ndarray:
    """Vectorised ``parse_timeframe``."""
    return map_unique(values, parse_timeframe, out_dtype=np.float64)


def normalise_label(value: str | None) -> str | None:
    """Lower-case, single-spaced category text ("Budget Approved " -> "budget approved")."""
    return None if value is None else " ".join(value.lower().split())


def budget_status(values: np.ndarray) -> np.ndarray:
    """Budget status as a normalised category (values differ between CRMs and are kept as they are)."""
    return map_unique(values, normalise_label)


def need(values: np.ndarray) -> np.ndarray:
    """Need (pain point / use case) as a normalised category."""
    return map_unique(values, normalise_label)
