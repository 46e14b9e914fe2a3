"""Descriptor models: features -> tree ensemble, with nested early stopping and conformal intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.model_selection import KFold

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features import FeatureConfig, featurize
from bulkmod.models.base import Estimator, Prediction, data_hash
from bulkmod.models.boosters import make_booster
from bulkmod.models.transforms import TargetTransform
from bulkmod.uncertainty.conformal import ConformalInterval

HOLDOUT_FRACTION = 0.1
# the same three losses the neural models offer, as each booster's objective
LOSS_OBJECTIVES = {
    "mse": {"lgbm": {}, "rf": {}, "xgb": {}},
    "huber": {"lgbm": {"objective": "huber", "alpha": 1.0}, "rf": {"objective": "huber", "alpha": 1.0},
              "xgb": {"objective": "reg:pseudohubererror"}},
    "l1": {"lgbm": {"objective": "regression_l1"}, "rf": {"objective": "regression_l1"},
           "xgb": {"objective": "reg:absoluteerror"}},
}  # fmt: skip


class DescriptorModel(Estimator):
    """A tree ensemble on bulkmod descriptors.

    Nested by construction: the number of boosting rounds is chosen by early stopping on folds carved
    from the training data only (``inner_folds``); with ``inner_folds >= 2`` the out-of-fold residuals
    of those inner models also calibrate a split-conformal 90 % interval.
    """

    family: ClassVar[str] = "descriptor"

    def __init__(
        self,
        backend: str,
        *,
        features: dict | None = None,
        transform: dict | None = None,
        params: dict | None = None,
        inner_folds: int = 1,
        loss: str = "mse",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if loss not in LOSS_OBJECTIVES:
            raise BulkmodError(f"unknown loss {loss!r}: use {', '.join(LOSS_OBJECTIVES)}")
        self.loss = loss
        self.key = backend
        self.backend = backend
        self.features = FeatureConfig.from_dict(features) if features else None
        self.transform = TargetTransform.from_dict(transform) if transform else TargetTransform()
        self.params = {**LOSS_OBJECTIVES[loss][backend], **(params or {})}
        self.inner_folds = inner_folds
        self.seed = seed
        self.rounds: int | None = None
        self._booster = None

    def config(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "features": self.features.as_dict() if self.features else None,
            "transform": self.transform.as_dict(),
            "params": self.params,
            "inner_folds": self.inner_folds,
            "loss": self.loss,
            "seed": self.seed,
        }

    def _matrix(self, ds: Dataset) -> tuple[np.ndarray, dict[int, str]]:
        assert self.features is not None
        return featurize(ds, self.features)

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        self.features = self.features or FeatureConfig.default_for(ds)
        X, errors = self._matrix(ds)
        if errors:
            i, why = next(iter(errors.items()))
            raise BulkmodError(f"{ds.name}: {len(errors)} rows could not be featurised, e.g. {ds.ids[i]}: {why}")
        z = self.transform.fit(y_log10).forward(y_log10)
        rng = np.random.default_rng(self.seed)
        if val is not None:
            Xv, _ = self._matrix(val)
            inner = [(np.arange(len(z)), None)]
            val_data = (Xv, self.transform.forward(val.y_log10))
        elif self.inner_folds >= 2:
            kf = KFold(self.inner_folds, shuffle=True, random_state=self.seed)
            inner = list(kf.split(X))
        else:
            perm = rng.permutation(len(z))
            cut = max(1, int(len(z) * HOLDOUT_FRACTION))
            inner = [(perm[cut:], perm[:cut])]
        best, oof = [], np.full(len(z), np.nan)
        for tr, te in inner:
            booster = make_booster(self.backend, self.params, self.seed)
            if te is None:
                best.append(booster.train(X[tr], z[tr], val_data, None))
                continue
            best.append(booster.train(X[tr], z[tr], (X[te], z[te]), None))
            oof[te] = booster.predict(X[te])
        self.rounds = int(np.median(best))
        self._booster = make_booster(self.backend, self.params, self.seed)
        self._booster.train(X, z, None, self.rounds)
        if self.inner_folds >= 2 and val is None:
            self.conformal = ConformalInterval.from_residuals(self.transform.inverse(oof) - y_log10)
        self.train_info = {"dataset": ds.name, "n": len(ds), "data_hash": data_hash(ds), "rounds": self.rounds}
        return self

    def predict(self, ds: Dataset) -> Prediction:
        if self._booster is None:
            raise BulkmodError("model is not fitted")
        X, errors = self._matrix(ds)
        mean = self.transform.inverse(self._booster.predict(X)) if len(X) else np.empty(0)
        for i in errors:
            mean[i] = np.nan
        return self._with_intervals(Prediction(mean_log10=mean, errors=errors))

    def _write_weights(self, directory: Path) -> list[str]:
        self._booster.save(directory / self._booster.weights_file)
        return [self._booster.weights_file]

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        self._booster = make_booster(self.backend, self.params, self.seed)
        self._booster.load(directory / self._booster.weights_file)
        self.rounds = manifest.get("train", {}).get("rounds")


class MeanModel(Estimator):
    """Predicts the training mean of log10 K: the floor every model must beat (matbench's 'dummy')."""

    key: ClassVar[str] = "mean"
    family: ClassVar[str] = "baseline"

    def __init__(self, value: float | None = None) -> None:
        super().__init__()
        self.value = value

    def config(self) -> dict[str, Any]:
        return {"value": self.value}

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        self.value = float(np.mean(y_log10))
        self.train_info = {"dataset": ds.name, "n": len(ds), "data_hash": data_hash(ds)}
        return self

    def predict(self, ds: Dataset) -> Prediction:
        return Prediction(mean_log10=np.full(len(ds), self.value))

    def _write_weights(self, directory: Path) -> list[str]:
        return []

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        pass
