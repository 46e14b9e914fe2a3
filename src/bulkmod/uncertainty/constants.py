"""The floors and z-values of every uncertainty method, in one place so a new method reuses them.

All scales are in log10(K) units. A floor keeps a per-crystal scale positive and finite where the method
can return zero (members that agree exactly, coinciding quantiles, a perfect fit): a zero scale would make a
normalised conformal score ``|r| / sigma`` infinite and an interval of zero width. The values are the ones
the shipped models were trained with; changing one changes their predictions.
"""

from __future__ import annotations

# Standard-normal quantile of 0.95, rounded: a 90 % interval spans +-Z90 std. Converts a calibrated 90 %
# half-width to the std a Prediction reports and back; the rounded value is the one saved models assume.
Z90 = 1.6448536

# Ensemble, MC-dropout and Laplace std: members or draws that agree exactly still get a finite interval.
STD_FLOOR = 1e-4

# Added to |residual| before the log in the descriptor sigma model: keeps log|r| finite for near-perfect
# predictions (1e-3 log10 is 0.2 % of K, below the noise of any DFT bulk modulus).
SIGMA_FLOOR = 1e-3

# Quantile half-width (hi - lo) / 2: crossing or coinciding quantiles still give a positive scale.
HALF_FLOOR = 1e-3


def z_value(level: float) -> float:
    """Two-sided standard-normal quantile: a central ``level`` interval spans +- this many std.

    For checks of a Gaussian reading of a predicted std at any level (``z_value(0.5)`` is 0.674); exact,
    unlike the rounded :data:`Z90` the models use.
    """
    from scipy.stats import norm  # lazy: scipy is slow to import and only metrics and figures need this

    return float(norm.ppf(0.5 + level / 2))
