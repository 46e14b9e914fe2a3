"""Quantile LightGBM: the non-Bayesian baseline for intervals, conformalised (CQR) on the training part.

Three descriptor models with LightGBM's quantile objective (5 %, 50 %, 95 %) share the same inner folds,
so their out-of-fold quantiles are honest on every training row, which is what the CQR calibrator
(:mod:`bulkmod.uncertainty.cqr`) needs; with ``cqr=false`` the raw 5-95 % band is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.models.base import Prediction, training_summary
from bulkmod.models.boosters import check_booster_params
from bulkmod.models.composite import CompositeEstimator
from bulkmod.models.descriptor import DescriptorModel, DescriptorOptions
from bulkmod.models.options import Options, listing, split_options, take_options
from bulkmod.models.registry import register
from bulkmod.uncertainty.cqr import band_interval, calibrate_band, quantile_band

QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class QuantileOptions(Options):
    """Options of the quantile model: whether its band is conformalised, and on how many inner folds.

    ``cqr``: conformalise the raw 5-95 % band (true) or return it as it is; ``inner_folds`` >= 2, because the
    out-of-fold quantiles of the training rows are what calibrates the interval.
    """

    cqr: bool = True
    inner_folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inner_folds < 2:
            raise BulkmodError("qlgbm: inner_folds >= 2 (its out-of-fold quantiles calibrate the interval)")


@register("qlgbm", "descriptor", "quantile LightGBM (5/50/95 %), conformalised (CQR)")
class QuantileModel(CompositeEstimator):
    """Quantile LightGBM (5/50/95 %), conformalised (CQR), configured through one set of keywords for its members.

    ``params``: LightGBM settings for all three boosters, :class:`QuantileOptions` (``cqr``) and the members'
    :class:`~bulkmod.models.descriptor.DescriptorOptions`; other keywords configure each member too.
    """

    key: ClassVar[str] = "qlgbm"
    family: ClassVar[str] = "descriptor"
    members_comparable: ClassVar[bool] = False  # members are the 5/50/95 % quantiles, not three guesses of K
    scale_name: ClassVar[str] = "quantile half-width"

    def __init__(self, *, params: dict | None = None, **config: Any) -> None:
        super().__init__()
        self.options, self.member_config, self.params = take_options(QuantileOptions, config, params, model=self.key)
        booster = split_options(DescriptorOptions, self.params)[1]
        check_booster_params("lgbm", booster, listing(QuantileOptions, DescriptorOptions))

    def config(self) -> dict[str, Any]:
        return self.member_config | {"params": self.params} | self.options.as_dict()

    def n_members(self) -> int:
        return len(QUANTILES)

    def _member(self, alpha: float) -> DescriptorModel:
        params = self.params | {"objective": "quantile", "alpha": alpha}
        folds, seed = self.options.inner_folds, self.options.seed
        return DescriptorModel(
            "lgbm", **self.member_config, params=params, inner_folds=folds, interval="constant", seed=seed
        )

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        lo, mid, hi = (self._member(a).fit(ds, y_log10) for a in QUANTILES)
        self.members = [lo, mid, hi]
        if self.options.cqr:
            self.conformal = calibrate_band(lo.oof_log10, hi.oof_log10, y_log10)
        self.train_info = training_summary(ds) | {"rounds": [m.rounds for m in (lo, mid, hi)]}
        return self

    def scale(self, ds: Dataset) -> np.ndarray:
        """σ(x): half the raw 5-95 % band (:class:`~bulkmod.uncertainty.scale.ScaleProvider`), which CQR scales."""
        lo, _, hi = self.fitted_members()
        return quantile_band(lo.predict(ds).mean_log10, hi.predict(ds).mean_log10)[1]

    def predict(self, ds: Dataset) -> Prediction:
        lo, mid, hi = (m.predict(ds) for m in self.fitted_members())
        low, high, std = band_interval(lo.mean_log10, hi.mean_log10, self.conformal, self.level)
        return Prediction(mid.mean_log10, std, low, high, errors=mid.errors)
