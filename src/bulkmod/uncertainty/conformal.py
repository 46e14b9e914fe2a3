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

from bulkmod.errors import BulkmodError

TEMPER_POWERS = (0.25, 0.5, 0.75, 1.0)  # between the constant band (0) and the fully adaptive one (1)


@dataclass
class ConformalInterval:
    """Symmetric interval ``mean +- q`` whose half-width ``q`` is the conformal quantile of |residual|.

    With n held-out residuals the ceil((n+1) level)/n empirical quantile gives finite-sample
    coverage >= level for exchangeable data. The sorted calibration scores are kept, so any level in (0, 1)
    is available after training; models saved before they were kept carry only the 90 % and 50 % quantiles.
    """

    q90: float
    q50: float
    n_calibration: int
    normalized: bool = False
    power: float = 1.0
    scores: list[float] | None = None  # sorted |residual| / scale**power of the calibration rows

    @classmethod
    def from_residuals(
        cls, residuals: np.ndarray, scale: np.ndarray | None = None, power: float = 1.0
    ) -> ConformalInterval:
        r = np.abs(np.asarray(residuals, float))
        if scale is not None:
            r = r / np.asarray(scale, float) ** power
        r = np.sort(r)
        return cls(q90=_order_statistic(r, 0.9), q50=_order_statistic(r, 0.5), n_calibration=len(r),
                   normalized=scale is not None, power=power, scores=r.tolist())  # fmt: skip

    @classmethod
    def normalised(cls, residuals: np.ndarray, scale: np.ndarray, *, tempered: bool = False) -> ConformalInterval:
        """A normalised interval, so its width follows each row's expected error.

        Scaled by ``scale``; ``tempered``: by ``scale ** p``, the p in TEMPER_POWERS giving the smallest mean
        calibrated width on these same rows (a negligible choice next to thousands of calibration residuals).
        """
        fits = [cls.from_residuals(residuals, scale=scale, power=p) for p in (TEMPER_POWERS if tempered else (1.0,))]
        return min(fits, key=lambda c: c.q90 * np.mean(np.asarray(scale, float) ** c.power))

    def half_width(self, level: float = 0.9) -> float:
        """The conformal quantile of the scores at ``level`` (any 0 < level < 1)."""
        check_level(level)
        if self.scores is not None:
            return _order_statistic(np.asarray(self.scores, float), level)
        for stored, q in ((0.9, self.q90), (0.5, self.q50)):
            if math.isclose(level, stored):
                return q
        raise BulkmodError(
            f"interval level {level}: this model was saved with its 90 % and 50 % quantiles only; "
            "retrain it (bulkmod train) for other levels"
        )

    def bounds(
        self, mean: np.ndarray, level: float = 0.9, scale: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        half = self.half_width(level)
        if self.normalized:
            if scale is None:
                raise ValueError("a normalised interval needs the model's per-crystal scale")
            half = half * np.asarray(scale, float) ** self.power
        return mean - half, mean + half

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ConformalInterval:
        """The inverse of :meth:`as_dict`, checked so a bad manifest fails on loading.

        ``ValueError`` for values it never writes (a hand-edited manifest), which would otherwise fail at prediction
        time.
        """
        c = cls(**d)
        numbers = (c.q90, c.q50, c.power)
        if not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in numbers) or not (
            type(c.normalized) is bool and type(c.n_calibration) is int
        ):
            raise ValueError(f"conformal {d} needs q90, q50, power >= 0, a bool normalized, an int n_calibration")
        if c.scores is not None and not (
            isinstance(c.scores, list) and all(type(v) in (int, float) and math.isfinite(v) for v in c.scores)
        ):
            raise ValueError("conformal scores must be a list of finite numbers")
        return c


def check_level(level: float) -> None:
    """Refuse an interval level outside (0, 1) in words."""
    if not 0 < level < 1:
        raise BulkmodError(f"interval level {level}: need 0 < level < 1 (0.9 is a 90 % interval)")


def _order_statistic(sorted_scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) level)-th smallest score (the largest when that exceeds n)."""
    n = len(sorted_scores)
    k = min(int(np.ceil((n + 1) * level)), n) - 1
    return float(sorted_scores[k])
