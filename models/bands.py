"""Score bands (A best) on calibrated probability, with thresholds frozen at training.

Relative bands ("top 10 % of this month's leads") shift whenever the lead mix changes, which users read as the
model changing its mind. Here the probability thresholds are set once, from the validation-period score
distribution and ``bands.band_shares``, and then stay fixed in the bundle: a band always means the same
conversion likelihood, and a better lead mix simply puts more leads into band A.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadscore.core.errors import ConfigError
from leadscore.core.params import BandParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BandScheme:
    """Frozen band thresholds.

    Attributes:
        names: band names, best first ("A", "B", ...).
        thresholds: lower probability bound of every band but the last, best first (non-increasing).
        mql_band: this band or better is a marketing-qualified lead.
        sql_band: this band or better is a sales-qualified lead.
        target_shares: the shares the thresholds were set for (on the validation period).
        reference_shares: the shares actually reached on the validation period (ties can move them).
    """

    names: tuple[str, ...]
    thresholds: tuple[float, ...]
    mql_band: str
    sql_band: str
    target_shares: tuple[float, ...] = ()
    reference_shares: tuple[float, ...] = ()

    def codes(self, probability: np.ndarray) -> np.ndarray:
        """Band index per lead (0 = best)."""
        ascending = np.asarray(self.thresholds[::-1], dtype=np.float64)
        return len(self.thresholds) - np.searchsorted(ascending, probability, side="right")

    def assign(self, probability: np.ndarray) -> np.ndarray:
        """Band name per lead (object array)."""
        return np.asarray(self.names, dtype=object)[self.codes(probability)]

    def qualification(self, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(is_mql, is_sql) per lead."""
        return self.flags(self.codes(probability))

    def flags(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(is_mql, is_sql) from band codes (0 = best): the one place the MQL/SQL rule lives.

        Scoring passes the codes it just assigned; the report passes ``codes_of`` the bands read back from the
        prediction log, so a logged lead is qualified exactly as it was when scored.
        """
        codes = np.asarray(codes)
        return codes <= self.names.index(self.mql_band), codes <= self.names.index(self.sql_band)

    def codes_of(self, bands: Any) -> np.ndarray:
        """Band code per band name; a name outside the scheme (or missing) ranks below the worst band."""
        order = {name: code for code, name in enumerate(self.names)}
        return np.fromiter((order.get(b, len(self.names)) for b in bands), dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (metadata.json and the content hash)."""
        return {
            "names": list(self.names),
            "thresholds": [float(t) for t in self.thresholds],
            "mql_band": self.mql_band,
            "sql_band": self.sql_band,
            "target_shares": [float(s) for s in self.target_shares],
            "reference_shares": [float(s) for s in self.reference_shares],
        }


def fit_bands(probability: np.ndarray, params: BandParams) -> BandScheme:
    """Set the thresholds so that the validation leads fall into bands in ``params.band_shares``.

    A constant probability (the no-skill calibrator) ranks no lead above another: the thresholds then sit just
    above it, so every lead lands in the last band and none is qualified as MQL or SQL on no evidence
    (quantile thresholds equal to the constant would put them all in band A).

    Raises:
        ConfigError: shares that do not add up to 1, or MQL/SQL bands that are not band names.
    """
    names = tuple(params.band_shares)
    shares = np.array([params.band_shares[n] for n in names], dtype=np.float64)
    if len(names) < 2 or (shares <= 0).any() or abs(shares.sum() - 1.0) > 1e-6:
        raise ConfigError(
            f"bands.band_shares must be 2+ positive shares adding up to 1, got {params.band_shares}"
        )
    for field, band in (("mql_band", params.mql_band), ("sql_band", params.sql_band)):
        if band not in names:
            raise ConfigError(f"bands.{field} {band!r} is not one of the bands {', '.join(names)}")
    if names.index(params.sql_band) > names.index(params.mql_band):
        raise ConfigError("bands.sql_band must be at least as good as bands.mql_band")
    if len(probability) == 0:
        raise ConfigError("cannot set band thresholds from an empty validation period")
    cumulative = np.cumsum(shares)[:-1]
    lowest, highest = float(np.min(probability)), float(np.max(probability))
    if lowest == highest:
        thresholds = (float(np.nextafter(highest, np.inf)),) * len(cumulative)
    else:
        thresholds = tuple(float(np.quantile(probability, 1.0 - c)) for c in cumulative)
    scheme = BandScheme(names, thresholds, params.mql_band, params.sql_band, tuple(float(s) for s in shares))
    reached = np.bincount(scheme.codes(probability), minlength=len(names)) / len(probability)
    logger.info(
        "band thresholds %s; validation shares %s",
        dict(zip(names[:-1], np.round(thresholds, 4).tolist(), strict=True)),
        dict(zip(names, np.round(reached, 3).tolist(), strict=True)),
    )
    return BandScheme(
        names, thresholds, params.mql_band, params.sql_band, scheme.target_shares, tuple(reached.tolist())
    )
