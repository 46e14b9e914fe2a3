"""Zero-shot bulk modulus from a universal potential's E–V fit: no training data touches the number.

``fit`` only calibrates the conformal interval on the training part's residuals (and records how often the
potential's fit was unusable). Crystals whose fit is flagged get no K, with the flag as the reason.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features.featurizer import DEFAULT_STRUCTURE_GROUPS, FeatureConfig
from bulkmod.models.base import Estimator, Prediction, build_model, load_members, save_members, training_summary
from bulkmod.models.descriptor import DescriptorModel
from bulkmod.models.registry import register
from bulkmod.physics.eos import ScanConfig
from bulkmod.physics.features import eos_results
from bulkmod.physics.potentials import POTENTIALS
from bulkmod.uncertainty.conformal import ConformalInterval


@register("umlip-eos", "zero-shot", "zero-shot K0 from a universal potential's E-V fit (chgnet|sevennet)")
class UMLIPEOSModel(Estimator):
    key: ClassVar[str] = "umlip-eos"
    family: ClassVar[str] = "zero-shot"

    def __init__(
        self, *, potential: str = "chgnet", scan: dict | None = None, params: dict | None = None, seed: int = 0
    ) -> None:
        """``params`` (``--param``) may set ``potential`` and the scan's points, half_width, max_recentre."""
        super().__init__()
        params = dict(params or {})
        potential = params.pop("potential", potential)
        scan = (scan or {}) | params
        if potential not in POTENTIALS:
            raise BulkmodError(f"unknown potential {potential!r}: use {', '.join(POTENTIALS)}")
        self.potential = potential
        self.scan = ScanConfig(**scan)
        self.seed = seed  # unused: the model is deterministic; kept so every model takes --seed

    def config(self) -> dict[str, Any]:
        return {"potential": self.potential, "scan": self.scan.as_dict(), "seed": self.seed}

    def _raw(self, ds: Dataset) -> tuple[np.ndarray, list]:
        ds.require_structures("umlip-eos needs crystal structures")
        results = eos_results(ds.structures, self.potential, self.scan)
        k = np.array([np.log10(r.k0_gpa) if r.usable else np.nan for r in results])
        return k, results

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        k, results = self._raw(ds)
        ok = np.isfinite(k)
        if ok.sum() < 10:
            raise BulkmodError(f"{ds.name}: only {ok.sum()} usable E-V fits: cannot calibrate an interval")
        self.conformal = ConformalInterval.from_residuals(k[ok] - y_log10[ok])
        self.train_info = training_summary(ds) | {"fit_flags": dict(Counter(r.flag for r in results))}
        return self

    def predict(self, ds: Dataset) -> Prediction:
        k, results = self._raw(ds)
        errors = {i: f"E-V fit flagged: {r.flag}" for i, r in enumerate(results) if not r.usable}
        extra = {
            "k_prime": np.array([r.k_prime for r in results]),
            "v0_a3": np.array([r.v0_ratio * s.volume for r, s in zip(results, ds.structures, strict=True)]),
            "fit_flag": np.array([r.flag for r in results], dtype=object),
        }
        return self._with_intervals(Prediction(mean_log10=k, errors=errors, extra=extra))

    def _write_weights(self, directory: Path) -> list[str]:
        return []  # the potential's weights ship in its wheel; the manifest records its version

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        pass


# E–V fit features only: the 64-d embedding adds nothing out of distribution and costs 0.002 in distribution
# (benchmarks/results/umlip.md, the *-embed rows); add it with --features ...,umlip-embed
HYBRID_FEATURES = FeatureConfig((*DEFAULT_STRUCTURE_GROUPS, "umlip-eos")).as_dict()


@register(
    "umlip-hybrid", "physics", "LightGBM on descriptors + CHGNet E-V fit features (K0, K', V0/V, E0, residual, flag)"
)
def hybrid_model(**config: Any) -> DescriptorModel:
    """LightGBM that also sees the potential's E–V fit: the descriptors miss what the fit knows about bonding."""
    return DescriptorModel("lgbm", **({"features": HYBRID_FEATURES} | config))


@register("umlip-delta", "physics", "LightGBM learning log10 K - log10 K_uMLIP on the umlip-hybrid features")
def delta_model(**config: Any) -> DescriptorModel:
    """The hybrid learning only the potential's error (a ratio, so log10 space), where the fit gets the scale."""
    return DescriptorModel("lgbm", **({"features": HYBRID_FEATURES, "baseline": "umlip-eos"} | config))


@register("umlip-blend", "physics", "mean of lgbm (descriptors) and umlip-hybrid (+ E-V fit)")
class BlendModel(Estimator):
    """The mean of two LightGBM models that see different inputs: the descriptors alone (``lgbm``), and the
    descriptors plus the potential's E–V fit (``umlip-hybrid``).

    Their errors differ enough that the mean beats both in distribution, while the E–V member carries the
    out-of-distribution gain (``benchmarks/results/umlip.md``). Each member keeps its own calibrated adaptive
    interval; the blend reports the mean of their bounds (coverage is measured, not assumed).
    """

    key: ClassVar[str] = "umlip-blend"
    family: ClassVar[str] = "physics"
    members_keys: ClassVar[tuple[str, ...]] = ("lgbm", "umlip-hybrid")

    def __init__(self, *, inner_folds: int = 5, seed: int = 0, **member_config: Any) -> None:
        super().__init__()
        self.inner_folds, self.seed, self.member_config = inner_folds, seed, member_config
        self.members: list[Estimator] = []

    def config(self) -> dict[str, Any]:
        return self.member_config | {"inner_folds": self.inner_folds, "seed": self.seed}

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        cfg = self.member_config | {"inner_folds": self.inner_folds, "seed": self.seed}
        self.members = [build_model(key, **cfg).fit(ds, y_log10, val=val) for key in self.members_keys]
        self.train_info = training_summary(ds)
        return self

    def predict(self, ds: Dataset) -> Prediction:
        if not self.members:
            raise BulkmodError("model is not fitted")
        preds = [m.predict(ds) for m in self.members]

        def mean_of(attr: str) -> np.ndarray | None:
            values = [getattr(p, attr) for p in preds]
            return None if any(v is None for v in values) else np.mean(values, axis=0)

        errors = {i: why for p in preds for i, why in p.errors.items()}
        return Prediction(mean_of("mean_log10"), mean_of("std_log10"), mean_of("lo90_log10"), mean_of("hi90_log10"),
                          errors)  # fmt: skip

    def member_predictions(self, ds: Dataset) -> np.ndarray:
        """(members, rows): lets a benchmark check that the blend beats its members."""
        return np.stack([m.predict(ds).mean_log10 for m in self.members])

    def _write_weights(self, directory: Path) -> list[str]:
        return save_members(directory, self.members)

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        self.members = load_members(directory, len(self.members_keys))
