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
