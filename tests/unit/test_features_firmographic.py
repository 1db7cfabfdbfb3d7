import numpy as np
import pandas as pd
import pytest

from leadscore.features.columns import NAT
from leadscore.features.firmographic import (
    REVENUE_LABELS,
    SIZE_LABELS,
    company_age,
    country_region,
    log_employees,
    revenue_band,
    size_band,
)


def _ns(*stamps: str) -> np.ndarray:
    return np.array([pd.Timestamp(s).value for s in stamps], dtype=np.int64)


def test_size_band_edges_follow_their_labels() -> None:
    bands = size_band(np.array([1, 9, 10, 49, 50, 999, 1000, 4999, 5000, np.nan, -3]))
    assert [SIZE_LABELS[int(b)] for b in bands[:9]] == [
        "under 10",
        "under 10",
        "10-50",
        "10-50",
        "50-200",
        "200-1,000",
        "1,000-5,000",
        "1,000-5,000",
        "5,000+",
    ]
    assert np.isnan(bands[9:]).all()


def test_revenue_band_is_ordinal_and_missing_stays_missing() -> None:
    bands = revenue_band(np.array([5e5, 2e7, 2e9, np.nan]))
    assert [REVENUE_LABELS[int(b)] for b in bands[:3]] == ["under $1M", "$10M-$50M", "$1B+"]
    assert np.isnan(bands[3])


def test_log_employees_reads_negative_counts_as_missing() -> None:
    out = log_employees(np.array([0.0, np.e - 1, -5.0]))
    assert out[0] == 0.0
    assert out[1] == pytest.approx(1.0)
    assert np.isnan(out[2])


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("United States", "NA"),
        ("usa", "NA"),
        ("U.S.", "NA"),
        ("Germany", "EMEA"),
        ("DE", "EMEA"),
        ("south africa", "EMEA"),
        ("Japan", "APAC"),
        ("Brazil", "LATAM"),
        ("Atlantis", "other"),
        (None, None),
    ],
)
def test_country_maps_to_region(country: str | None, region: str | None) -> None:
    assert country_region(np.array([country], dtype=object))[0] == region


def test_company_age_uses_the_as_of_year_and_rejects_future_founding() -> None:
    age = company_age(
        np.array([2000.0, 2030.0, np.nan, 2010.0]),
        _ns("2024-06-01", "2024-06-01", "2024-06-01", "2024-01-01"),
    )
    assert age[0] == 24.0
    assert np.isnan(age[1])
    assert np.isnan(age[2])
    assert age[3] == 14.0
    assert np.isnan(company_age(np.array([2000.0]), np.array([NAT]))[0])
