"""Target transforms, saved inside every model so a prediction is always back in log10(GPa).

The motivating failure trained on raw GPa with MSE and no normalisation; here the space and the
standardisation are explicit, serialisable choices instead of ad-hoc lines in a script.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bulkmod.errors import BulkmodError

MIN_GPA = 0.01  # predictions in GPa space below this are clipped (log10 undefined) and counted


@dataclass
class TargetTransform:
    """The target space (log10 or GPa) and its standardisation, saved with a model so predictions map back."""

    space: str = "log10"  # "log10" or "gpa"
    standardize: bool = True
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if self.space not in ("log10", "gpa"):
            raise BulkmodError(f"unknown target space {self.space!r}: use log10 or gpa")

    def _to_space(self, y_log10: np.ndarray) -> np.ndarray:
        return np.asarray(y_log10, float) if self.space == "log10" else 10.0 ** np.asarray(y_log10, float)

    def fit(self, y_log10: np.ndarray) -> TargetTransform:
        y = self._to_space(y_log10)
        if self.standardize:
            self.mean, self.std = float(np.mean(y)), float(np.std(y) or 1.0)
        return self

    def forward(self, y_log10: np.ndarray) -> np.ndarray:
        return (self._to_space(y_log10) - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        y = np.asarray(z, float) * self.std + self.mean
        return y if self.space == "log10" else np.log10(np.maximum(y, MIN_GPA))

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TargetTransform:
        return cls(**d)


class BaselineOffset:
    """The target as a ratio to a physics baseline, so a booster learns only the potential's error.

    Log10 K minus the potential's E–V log10 K0. Where the fit is missing or flagged the baseline is the training mean
    instead.

    The baseline comes from each row's own descriptors (the columns ``K0_COLUMN`` and ``FLAG_COLUMN`` of a matrix
    whose column names are ``names``), so a prediction adds back exactly what training took away.
    """

    K0_COLUMN = "umlip_log10_k0"
    FLAG_COLUMN = "umlip_flagged"

    def __init__(self, fill: float | None = None) -> None:
        self.fill = fill

    def fit(self, y_log10: np.ndarray) -> BaselineOffset:
        self.fill = float(np.mean(y_log10))
        return self

    def offset(self, X: np.ndarray, names: list[str]) -> np.ndarray:
        """Each row's baseline log10 K."""
        if self.fill is None:
            raise BulkmodError("the baseline offset is not fitted")
        k0, flagged = X[:, names.index(self.K0_COLUMN)], X[:, names.index(self.FLAG_COLUMN)] > 0
        return np.where(np.isfinite(k0) & ~flagged, k0, self.fill)

    def forward(self, y_log10: np.ndarray, X: np.ndarray, names: list[str]) -> np.ndarray:
        return y_log10 - self.offset(X, names)

    def inverse(self, delta: np.ndarray, X: np.ndarray, names: list[str]) -> np.ndarray:
        return delta + self.offset(X, names)
