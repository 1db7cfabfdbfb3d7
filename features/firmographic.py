"""Firmographic features: company size, revenue, age, location and industry.

All functions take normalised columns (see ``leadscore.features.columns``) and return numpy arrays, one value
per lead. Bands are ordinal codes (0 = smallest) rather than categories so that trees can split "at least
mid-market" in one go, and so that reason labels can name the band in business words ("Company size
1,000-5,000").
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from leadscore.features.columns import NAT, map_unique

logger = logging.getLogger(__name__)

# Upper edges (exclusive) of the employee bands; the label of each band follows.
SIZE_EDGES = np.array([10.0, 50.0, 200.0, 1_000.0, 5_000.0])
SIZE_LABELS = ("under 10", "10-50", "50-200", "200-1,000", "1,000-5,000", "5,000+")
REVENUE_EDGES = np.array([1e6, 1e7, 5e7, 2.5e8, 1e9])
REVENUE_LABELS = ("under $1M", "$1M-$10M", "$10M-$50M", "$50M-$250M", "$250M-$1B", "$1B+")

REGIONS = ("NA", "EMEA", "APAC", "LATAM")
UNMAPPED_REGION = "other"

# Country names and ISO codes (lower case) per region, "|"-separated to keep the table compact.
_COUNTRIES_BY_REGION: dict[str, str] = {
    "NA": "united states|united states of america|usa|us|u.s.|u.s.a.|america|canada|ca",
    "EMEA": (
        "united kingdom|uk|gb|great britain|england|scotland|wales|northern ireland|ireland|ie|germany|de|"
        "deutschland|france|fr|netherlands|nl|the netherlands|holland|belgium|be|luxembourg|lu|spain|es|"
        "portugal|pt|italy|it|switzerland|ch|austria|at|sweden|se|norway|no|denmark|dk|finland|fi|iceland|is|"
        "poland|pl|czech republic|czechia|cz|slovakia|sk|hungary|hu|romania|ro|bulgaria|bg|greece|gr|croatia|"
        "hr|slovenia|si|serbia|rs|estonia|ee|latvia|lv|lithuania|lt|ukraine|ua|turkey|türkiye|tr|israel|il|"
        "united arab emirates|uae|ae|saudi arabia|sa|qatar|qa|kuwait|kw|bahrain|bh|oman|om|egypt|eg|"
        "south africa|za|nigeria|ng|kenya|ke|morocco|ma|ghana|gh|tunisia|tn|cyprus|cy|malta|mt|russia|ru|"
        "russian federation"
    ),
    "APAC": (
        "india|in|china|cn|japan|jp|south korea|korea|republic of korea|kr|singapore|sg|australia|au|"
        "new zealand|nz|hong kong|hk|taiwan|tw|indonesia|id|malaysia|my|thailand|th|vietnam|viet nam|vn|"
        "philippines|ph|pakistan|pk|bangladesh|bd|sri lanka|lk|nepal|np"
    ),
    "LATAM": (
        "brazil|br|brasil|mexico|mx|méxico|argentina|ar|chile|cl|colombia|co|peru|pe|uruguay|uy|paraguay|py|"
        "bolivia|bo|ecuador|ec|venezuela|ve|costa rica|cr|panama|pa|guatemala|gt|dominican republic|do|"
        "puerto rico|pr"
    ),
}
_REGION_OF = {name: region for region, names in _COUNTRIES_BY_REGION.items() for name in names.split("|")}


def log_employees(employees: np.ndarray) -> np.ndarray:
    """ln(1 + employees); negative head counts are data errors and read as missing."""
    with np.errstate(invalid="ignore"):
        return np.where(employees >= 0, np.log1p(np.maximum(employees, 0)), np.nan)


def _band(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    codes = edges.searchsorted(values, side="right").astype(np.float64)
    codes[~(values >= 0)] = np.nan  # NaN and negative values
    return codes


def size_band(employees: np.ndarray) -> np.ndarray:
    """Ordinal employee band (index into SIZE_LABELS), NaN when unknown."""
    return _band(employees, SIZE_EDGES)


def revenue_band(annual_revenue: np.ndarray) -> np.ndarray:
    """Ordinal annual-revenue band (index into REVENUE_LABELS), NaN when unknown."""
    return _band(annual_revenue, REVENUE_EDGES)


@lru_cache(maxsize=4096)
def _region_of(country: str | None) -> str | None:
    if country is None:
        return None
    key = " ".join(country.lower().replace(".", "").split()) if len(country) > 3 else country.lower()
    return _REGION_OF.get(key) or _REGION_OF.get(country.lower(), UNMAPPED_REGION)


def country_region(countries: np.ndarray) -> np.ndarray:
    """Map country names or ISO codes to NA / EMEA / APAC / LATAM ("other" if unmapped, None if missing)."""
    return map_unique(countries, _region_of)


def country_name(countries: np.ndarray) -> np.ndarray:
    """Country as a category in title case, so "germany" and "Germany" are one level."""
    return map_unique(countries, lambda c: None if c is None else (c.upper() if len(c) <= 3 else c.title()))


def years_of(ns: np.ndarray) -> np.ndarray:
    """Calendar year (float) of int64-ns time stamps; NaN for NaT."""
    years = (ns.view("datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + 1970).astype(np.float64)
    years[ns == NAT] = np.nan
    return years


def company_age(founded_year: np.ndarray, as_of_ns: np.ndarray) -> np.ndarray:
    """Company age in years at the scoring moment: as-of year minus founding year.

    A founding year after the as-of year is a data error (or a future-dated record) and reads as missing.
    """
    age = years_of(as_of_ns) - founded_year
    age[~(age >= 0)] = np.nan
    return age
