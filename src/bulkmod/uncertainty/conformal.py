"""Split-conformal intervals from held-out residuals (never from the test fold)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class ConformalInterval:
    """Symmetric interval ``mean +- q`` whose half-width ``q`` is the conformal quantile of |residual|.

    With n held-out residuals the ceil((n+1)(1-alpha))/n empirical quantile gives finite-sample
    coverage >= 1 - alpha for exchangeable data.
    """

    q90: float
    q50: float
    n_calibration: int

    @classmethod
    def from_residuals(cls, residuals: np.ndarray) -> ConformalInterval:
        r = np.sort(np.abs(np.asarray(residuals, float)))
        n = len(r)

        def q(alpha: float) -> float:
            k = min(int(np.ceil((n + 1) * (1 - alpha))), n) - 1
            return float(r[k])

        return cls(q90=q(0.1), q50=q(0.5), n_calibration=n)

    def bounds(self, mean: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        q = self.q90 if level == 0.9 else self.q50
        return mean - q, mean + q

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ConformalInterval:
        return cls(**d)
