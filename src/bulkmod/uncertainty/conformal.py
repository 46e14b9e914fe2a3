"""Split-conformal intervals from held-out residuals (never from the test fold).

Constant: ``mean +- q``. Normalised (adaptive): ``mean +- q * sigma(x)``, where ``sigma`` is the model's
own estimate of how hard a crystal is; then ``q`` is the conformal quantile of ``|residual| / sigma`` and
intervals widen where the model is unsure instead of being one band for every crystal. A ``power`` < 1
tempers the scale (``sigma ** power``): between the constant band (0) and the fully adaptive one (1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

TEMPER_POWERS = (0.25, 0.5, 0.75, 1.0)  # between the constant band (0) and the fully adaptive one (1)


@dataclass
class ConformalInterval:
    """Symmetric interval ``mean +- q`` whose half-width ``q`` is the conformal quantile of |residual|.

    With n held-out residuals the ceil((n+1)(1-alpha))/n empirical quantile gives finite-sample
    coverage >= 1 - alpha for exchangeable data.
    """

    q90: float
    q50: float
    n_calibration: int
    normalized: bool = False
    power: float = 1.0

    @classmethod
    def from_residuals(
        cls, residuals: np.ndarray, scale: np.ndarray | None = None, power: float = 1.0
    ) -> ConformalInterval:
        r = np.abs(np.asarray(residuals, float))
        if scale is not None:
            r = r / np.asarray(scale, float) ** power
        r = np.sort(r)
        n = len(r)

        def q(alpha: float) -> float:
            k = min(int(np.ceil((n + 1) * (1 - alpha))), n) - 1
            return float(r[k])

        return cls(q90=q(0.1), q50=q(0.5), n_calibration=n, normalized=scale is not None, power=power)

    @classmethod
    def normalised(cls, residuals: np.ndarray, scale: np.ndarray, *, tempered: bool = False) -> ConformalInterval:
        """Scaled by ``scale``; ``tempered``: by ``scale ** p``, the p in TEMPER_POWERS giving the smallest mean
        calibrated width on these same rows (a negligible choice next to thousands of calibration residuals)."""
        fits = [cls.from_residuals(residuals, scale=scale, power=p) for p in (TEMPER_POWERS if tempered else (1.0,))]
        return min(fits, key=lambda c: c.q90 * np.mean(np.asarray(scale, float) ** c.power))

    def bounds(
        self, mean: np.ndarray, level: float = 0.9, scale: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        half = self.q90 if level == 0.9 else self.q50
        if self.normalized:
            if scale is None:
                raise ValueError("a normalised interval needs the model's per-crystal scale")
            half = half * np.asarray(scale, float) ** self.power
        return mean - half, mean + half

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ConformalInterval:
        """The inverse of :meth:`as_dict`; ``ValueError`` for values it never writes (a hand-edited manifest),
        which would otherwise fail at prediction time."""
        c = cls(**d)
        numbers = (c.q90, c.q50, c.power)
        if not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in numbers) or not (
            type(c.normalized) is bool and type(c.n_calibration) is int
        ):
            raise ValueError(f"conformal {d} needs q90, q50, power >= 0, a bool normalized, an int n_calibration")
        return c
