import numpy as np
import pytest

from leadscore.features.bant import (
    C_LEVEL,
    DIRECTOR,
    IC,
    MANAGER,
    STUDENT,
    UNKNOWN,
    VP,
    authority_level,
    parse_authority,
    parse_timeframe,
    timeframe_stage,
)


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("CEO", C_LEVEL),
        ("Co-Founder and CEO", C_LEVEL),
        ("Founder & CEO", C_LEVEL),
        ("co-founder & cto", C_LEVEL),
        ("Chief Revenue Officer", C_LEVEL),
        ("CFO", C_LEVEL),
        ("President", C_LEVEL),
        ("Owner", C_LEVEL),
        ("Vice President, Sales", VP),
        ("Senior Vice President of Marketing", VP),
        ("SVP Engineering", VP),
        ("V.P. Finance", VP),
        ("EVP, Operations", VP),
        ("Director of IT", DIRECTOR),
        ("Dir. Procurement", DIRECTOR),
        ("Global Head of Data", DIRECTOR),
        ("Sr. Director Marketing", DIRECTOR),
        ("Marketing Manager", MANAGER),
        ("Mgr Sales", MANAGER),
        ("Sales Team Lead", MANAGER),
        ("International Sales Manager", MANAGER),
        ("Software Engineer", IC),
        ("Account Executive", IC),
        ("Senior Data Analyst", IC),
        ("Product Owner", IC),
        ("Assistant to the CEO", IC),
        ("Executive Assistant", IC),
        ("Marketing Intern", STUDENT),
        ("Summer Intern - Sales", STUDENT),
        ("PhD Student", STUDENT),
        ("MBA Candidate", STUDENT),
        ("Sales Working Student", STUDENT),
        ("Wizard of Lights", UNKNOWN),
    ],
)
def test_authority_parser_reads_free_text_titles(title: str, level: str) -> None:
    assert parse_authority(title) == level


def test_authority_of_a_missing_title_is_missing_not_unknown() -> None:
    assert parse_authority(None) is None


def test_authority_level_vectorised_matches_scalar_parser_for_small_and_large_batches() -> None:
    titles = np.array(["CEO", None, "Sales Manager", "vp of sales", "Wizard"] * 30, dtype=object)
    expected = [parse_authority(t) for t in titles]
    assert authority_level(titles).tolist() == expected
    assert authority_level(titles[:5]).tolist() == expected[:5]


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("<1 month", 0.0),
        ("ASAP", 0.0),
        ("2 weeks", 0.0),
        ("1-3 months", 1.0),
        ("within 3 months", 1.0),
        ("this quarter", 1.0),
        ("3-6 months", 2.0),
        ("6-12 months", 3.0),
        ("12+ months", 4.0),
        ("more than 1 year", 4.0),
        ("no plans", 5.0),
    ],
)
def test_timeframe_parser_orders_purchase_timeframes(text: str, stage: float) -> None:
    assert parse_timeframe(text) == stage


@pytest.mark.parametrize("text", [None, "unknown", "not sure", "TBD", "whenever the stars align"])
def test_timeframe_parser_reads_unknown_timeframes_as_missing(text: str | None) -> None:
    assert np.isnan(parse_timeframe(text))


def test_timeframe_stage_is_float_with_nan_for_unknown() -> None:
    out = timeframe_stage(np.array(["1-3 months", "unknown", None], dtype=object))
    assert out.dtype == np.float64
    assert out[0] == 1.0
    assert np.isnan(out[1:]).all()
