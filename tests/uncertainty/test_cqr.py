"""CQR: the conformalised band covers held-out rows at its level; uncalibrated, the raw band comes back as it is."""

from __future__ import annotations

import numpy as np

from bulkmod.uncertainty.constants import HALF_FLOOR, Z90
from bulkmod.uncertainty.cqr import band_interval, calibrate_band, quantile_band


def test_conformalised_band_covers_held_out_rows_and_raw_band_is_untouched():
    rng = np.random.default_rng(0)
    n = 4000
    width = rng.uniform(0.5, 2.0, n)
    y = rng.normal(size=n) * width
    lo, hi = -0.5 * width, 0.5 * width  # a band far too narrow: about 38 % coverage before calibration
    cal = calibrate_band(lo[: n // 2], hi[: n // 2], y[: n // 2])
    low, high, std = band_interval(lo[n // 2 :], hi[n // 2 :], cal, 0.9)
    assert 0.88 <= np.mean((y[n // 2 :] >= low) & (y[n // 2 :] <= high)) <= 0.92
    np.testing.assert_allclose(std, (high - low) / 2 / Z90)
    raw_low, raw_high, raw_std = band_interval(lo, hi, None, 0.9)
    np.testing.assert_array_equal(raw_low, lo)
    np.testing.assert_array_equal(raw_high, hi)
    np.testing.assert_allclose(raw_std, 0.5 * width / Z90)


def test_crossing_quantiles_keep_a_positive_half_width():
    centre, half = quantile_band(np.array([1.0, 2.0]), np.array([1.0, 1.5]))
    np.testing.assert_array_equal(centre, [1.0, 1.75])
    np.testing.assert_array_equal(half, [HALF_FLOOR, 0.25])
