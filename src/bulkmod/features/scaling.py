"""Column standardisation that tolerates NaN: one place for the centre, the scale and their fallbacks.

Descriptor matrices have holes (a structure group on a composition-only row, an E–V fit with no number) and
columns that are constant in training (no f-electrons in the set). Every model and the domain check standardise
them the same way: NaN ignored, a column with no numbers centred at 0, a column with no usable spread scaled by 1
so that a new crystal's value cannot blow up. Only the floor under the std differs between callers (it is saved in
their weights, so changing it would change their predictions), which is why it is a parameter.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardiser:
    """Per-column centre and scale; ``transform`` maps a missing value to the centre (0)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, floor: float) -> Standardiser:
        """Column mean and std ignoring NaN; a std that is NaN, infinite or not above ``floor`` becomes 1."""
        with warnings.catch_warnings():  # a column NaN on every row is expected: centre 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        return cls(np.nan_to_num(mean), np.where(np.isfinite(std) & (std > floor), std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``X`` standardised column by column, a missing value at the training mean."""
        return np.nan_to_num((X - self.mean) / self.std)
