"""The log|residual| scale model: out-of-fold σ on the calibration rows, and the same σ after a save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bulkmod.uncertainty.constants import SIGMA_FLOOR
from bulkmod.uncertainty.crossfit import kfold
from bulkmod.uncertainty.residual_scale import ResidualScaleModel


class MeanRegressor:
    """Predicts its training mean: enough to see which rows each σ was learnt from."""

    def __init__(self) -> None:
        self.value = np.nan

    def train(self, X: np.ndarray, y: np.ndarray, val: object, rounds: int | None) -> int | None:
        self.value = float(np.mean(y))
        return rounds

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.value)

    def save(self, path: Path) -> None:
        path.write_text(repr(self.value))

    def load(self, path: Path, n_features: int) -> None:
        self.value = float(path.read_text())


def test_each_row_gets_a_scale_learnt_without_its_fold(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, resid = rng.normal(size=(30, 2)), rng.normal(size=30)
    folds = kfold(30, 3, 0)
    model = ResidualScaleModel(MeanRegressor, rounds=5)
    sigma_oof = model.fit(X, resid, folds)
    target = np.log(np.abs(resid) + SIGMA_FLOOR)
    for train, test in folds:
        np.testing.assert_allclose(sigma_oof[test], np.exp(target[train].mean()))
    np.testing.assert_allclose(model.scale(X), np.exp(target.mean()))
    assert model.scale(X[:0]) is None
    model.save(tmp_path / "sigma.txt")
    loaded = ResidualScaleModel(MeanRegressor, rounds=5)
    loaded.load(tmp_path / "sigma.txt", X.shape[1])
    np.testing.assert_array_equal(loaded.scale(X), model.scale(X))
