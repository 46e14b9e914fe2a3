"""Quantile LightGBM: the non-Bayesian baseline for intervals, conformalised (CQR) on the training part.

Three descriptor models with LightGBM's quantile objective (5 %, 50 %, 95 %) share the same inner folds,
so their out-of-fold quantiles are honest on every training row. Conformalised quantile regression in
its scaled form: the score is ``|y - c| / h`` with ``c``, ``h`` the centre and half-width of the raw
5-95 % band, and the 90 % interval is ``c +- q * h``; with ``cqr=false`` the raw band is returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.models.base import Z90, Estimator, Prediction, load_members, save_members, training_summary
from bulkmod.models.boosters import check_booster_params
from bulkmod.models.descriptor import DESCRIPTOR_OPTIONS, DescriptorModel
from bulkmod.models.registry import register
from bulkmod.uncertainty.conformal import ConformalInterval

QUANTILES = (0.05, 0.5, 0.95)
HALF_FLOOR = 1e-3  # log10: crossing or coinciding quantiles still give a positive scale


@register("qlgbm", "descriptor", "quantile LightGBM (5/50/95 %), conformalised (CQR)")
class QuantileModel(Estimator):
    """``params``: LightGBM settings for all three boosters plus ``cqr`` (default true)."""

    key: ClassVar[str] = "qlgbm"
    family: ClassVar[str] = "descriptor"

    def __init__(self, *, params: dict | None = None, inner_folds: int = 5, seed: int = 0, **member_config: Any):
        super().__init__()
        params = dict(params or {})
        self.cqr = bool(params.pop("cqr", True))
        own = ("cqr", *DESCRIPTOR_OPTIONS)
        check_booster_params("lgbm", {k: v for k, v in params.items() if k not in own}, own)
        if inner_folds < 2:
            raise BulkmodError("qlgbm: inner_folds >= 2 (its out-of-fold quantiles calibrate the interval)")
        self.params, self.inner_folds, self.seed = params, inner_folds, seed
        self.member_config = member_config
        self.members: list[DescriptorModel] = []

    def config(self) -> dict[str, Any]:
        return self.member_config | {
            "params": self.params | {"cqr": self.cqr},
            "inner_folds": self.inner_folds,
            "seed": self.seed,
        }

    def _member(self, alpha: float) -> DescriptorModel:
        params = self.params | {"objective": "quantile", "alpha": alpha}
        return DescriptorModel(
            "lgbm", **self.member_config, params=params, inner_folds=self.inner_folds, interval="constant",
            seed=self.seed,
        )  # fmt: skip

    @staticmethod
    def _band(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (lo + hi) / 2, np.maximum(np.abs(hi - lo) / 2, HALF_FLOOR)

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        self.members = [self._member(a).fit(ds, y_log10) for a in QUANTILES]
        if self.cqr:
            centre, half = self._band(self.members[0].oof_log10, self.members[2].oof_log10)
            self.conformal = ConformalInterval.from_residuals(centre - y_log10, scale=half)
        self.train_info = training_summary(ds) | {"rounds": [m.rounds for m in self.members]}
        return self

    def predict(self, ds: Dataset) -> Prediction:
        if not self.members:
            raise BulkmodError("model is not fitted")
        lo, mid, hi = (m.predict(ds) for m in self.members)
        centre, half = self._band(lo.mean_log10, hi.mean_log10)
        if self.conformal is None:
            return Prediction(mid.mean_log10, half / Z90, centre - half, centre + half, errors=mid.errors)
        low, high = self.conformal.bounds(centre, level=self.level, scale=half)
        std = self.conformal.half_width(0.9) * half / Z90
        return Prediction(mid.mean_log10, std, low, high, errors=mid.errors)

    def _write_weights(self, directory: Path) -> list[str]:
        return save_members(directory, self.members)

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        self.members = load_members(directory, len(QUANTILES))
