"""The log|residual| scale: a regressor of how far off the point model is on each crystal.

The descriptor model's adaptive and tempered intervals are ``mean +- q * sigma(x)`` with ``sigma`` this model's
``exp(predicted log|residual|)``. It is fitted on the point model's out-of-fold residuals and cross-fitted on the
same folds, so each calibration score ``|r| / sigma`` uses a sigma that never saw its row and the conformal quantile
stays honest. Which regressor learns it is the caller's choice (a factory), so this module needs no model code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from bulkmod.uncertainty.constants import SIGMA_FLOOR
from bulkmod.uncertainty.crossfit import Folds, cross_fit


class Regressor(Protocol):
    """What the scale model needs of its regressor: a fixed-round fit, a prediction, and safe weights."""

    def train(
        self, X: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None, rounds: int | None
    ) -> int: ...
    def predict(self, X: np.ndarray) -> np.ndarray: ...
    def save(self, path: Path) -> None: ...
    def load(self, path: Path, n_features: int) -> None: ...


class ResidualScaleModel:
    """σ(x) = exp(a regressor of log(|residual| + floor)) on the point model's own feature matrix.

    ``new_regressor`` makes an untrained regressor (one per inner fold and one final), trained for ``rounds``.
    """

    scale_name = "log|residual| model"

    def __init__(self, new_regressor: Callable[[], Regressor], rounds: int) -> None:
        self.new_regressor = new_regressor
        self.rounds = rounds
        self.regressor: Regressor | None = None

    def fit(self, X: np.ndarray, residuals: np.ndarray, folds: Folds) -> np.ndarray:
        """Fit on every row and return each row's σ from a regressor that never saw that row's fold.

        That σ is the scale a normalised conformal calibration divides that row's residual by, so it must not have
        seen the residual.
        """
        target = np.log(np.abs(residuals) + SIGMA_FLOOR)

        def fit_fold(_: int, train: np.ndarray, test: np.ndarray) -> np.ndarray:
            regressor = self.new_regressor()
            regressor.train(X[train], target[train], None, self.rounds)
            return np.exp(regressor.predict(X[test]))

        sigma_oof = cross_fit(folds, len(residuals), fit_fold)
        self.regressor = self.new_regressor()
        self.regressor.train(X, target, None, self.rounds)
        return sigma_oof

    def scale(self, X: np.ndarray) -> np.ndarray | None:
        """σ of each row of ``X`` (the point model's matrix); None for no rows, as a model without a scale says."""
        if self.regressor is None:
            raise ValueError("the residual scale model is not fitted")
        return np.exp(self.regressor.predict(X)) if len(X) else None

    def save(self, path: Path) -> None:
        if self.regressor is None:
            raise ValueError("the residual scale model is not fitted")
        self.regressor.save(path)

    def load(self, path: Path, n_features: int) -> None:
        """Read saved weights of a regressor taking ``n_features`` columns (the point model's matrix)."""
        self.regressor = self.new_regressor()
        self.regressor.load(path, n_features)
