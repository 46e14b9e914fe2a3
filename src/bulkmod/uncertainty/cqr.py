"""Conformalised quantile regression (CQR), scaled form: a calibrator for a raw lower/upper quantile band.

The band's centre ``c`` and half-width ``h`` make the score ``|y - c| / h``; its conformal quantile ``q`` (a
normalised :class:`ConformalInterval` with ``h`` as the scale) gives the interval ``c +- q * h``. Calibrated on
out-of-fold quantiles of the training rows only, so the coverage guarantee never rests on a test fold.
"""

from __future__ import annotations

import numpy as np

from bulkmod.uncertainty.conformal import ConformalInterval
from bulkmod.uncertainty.constants import HALF_FLOOR, Z90


def quantile_band(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half-width of the raw band; the floor keeps crossing or coinciding quantiles a positive scale."""
    return (lo + hi) / 2, np.maximum(np.abs(hi - lo) / 2, HALF_FLOOR)


def calibrate_band(lo_oof: np.ndarray, hi_oof: np.ndarray, y: np.ndarray) -> ConformalInterval:
    """The CQR calibrator from out-of-fold lower and upper quantiles of rows with targets ``y``."""
    centre, half = quantile_band(lo_oof, hi_oof)
    return ConformalInterval.from_residuals(centre - y, scale=half)


def band_interval(
    lo: np.ndarray, hi: np.ndarray, conformal: ConformalInterval | None, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, Gaussian-equivalent std) of new rows, so a band reports like any other interval.

    The conformalised band at ``level``, or with no calibrator the raw band as it is (its std read as if it were a
    90 % interval).
    """
    centre, half = quantile_band(lo, hi)
    if conformal is None:
        return centre - half, centre + half, half / Z90
    low, high = conformal.bounds(centre, level=level, scale=half)
    return low, high, conformal.half_width(0.9) * half / Z90
