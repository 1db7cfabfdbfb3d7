import numpy as np
import pytest

from leadscore.core.errors import ConfigError
from leadscore.core.params import BandParams
from leadscore.models.bands import fit_bands


def test_band_shares_on_the_reference_and_mql_sql_flags() -> None:
    p = np.random.default_rng(0).beta(1, 5, size=10_000)
    bands = fit_bands(p, BandParams())
    assert bands.names == ("A", "B", "C", "D")
    shares = [np.mean(bands.assign(p) == name) for name in bands.names]
    np.testing.assert_allclose(shares, [0.1, 0.2, 0.3, 0.4], atol=0.002)
    is_mql, is_sql = bands.qualification(p)
    assert np.array_equal(is_sql, bands.assign(p) == "A")
    assert np.array_equal(is_mql, np.isin(bands.assign(p), ["A", "B"]))


def test_thresholds_are_frozen_so_a_better_mix_fills_band_a() -> None:
    p = np.random.default_rng(1).beta(1, 5, size=5000)
    bands = fit_bands(p, BandParams())
    better = np.minimum(p * 1.5, 1.0)
    assert np.mean(bands.assign(better) == "A") > 0.15
    assert bands.assign(np.array([bands.thresholds[0]]))[0] == "A"  # the threshold itself belongs to the band


def test_a_constant_probability_puts_every_lead_in_the_last_band_unqualified() -> None:
    p = np.full(500, 0.63)
    bands = fit_bands(p, BandParams())
    assert set(bands.assign(p)) == {"D"}
    is_mql, is_sql = bands.qualification(p)
    assert not is_mql.any()
    assert not is_sql.any()
    assert bands.reference_shares == (0.0, 0.0, 0.0, 1.0)
    assert bands.assign(np.array([0.64]))[0] == "A"  # anything above the constant would still rank


@pytest.mark.parametrize(
    "params",
    [
        BandParams(band_shares={"A": 0.5, "B": 0.2}),
        BandParams(mql_band="Z"),
        BandParams(mql_band="A", sql_band="B"),
    ],
)
def test_invalid_band_settings_are_config_errors(params: BandParams) -> None:
    with pytest.raises(ConfigError):
        fit_bands(np.linspace(0, 1, 100), params)
