"""Zero-shot bulk modulus from a universal potential's E–V fit: no training data touches the number.

``fit`` only calibrates the conformal interval on the training part's residuals (and records how often the
potential's fit was unusable). Crystals whose fit is flagged get no K, with the flag as the reason.

``calibration=offset|linear|isotonic`` is the one exception, opt-in: universal potentials soften the energy
surface (their curvature is scaled by a factor below one), a systematic error that a monotone map of log10 K
fitted on the training part removes: ``offset`` is exactly that model (log10 K + c, the median shift), ``linear``
also fits a slope, ``isotonic`` any monotone map. The map is fitted on training folds only and saved in the
manifest; the conformal interval is then calibrated on cross-fitted residuals of the mapped K, so it is not
fooled by the map's own fit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features.featurizer import DEFAULT_STRUCTURE_GROUPS, FeatureConfig
from bulkmod.models.base import Estimator, Prediction, build_model, training_summary
from bulkmod.models.composite import CompositeEstimator
from bulkmod.models.descriptor import DescriptorModel
from bulkmod.models.options import Options, parse_options, split_options, take_options
from bulkmod.models.registry import register
from bulkmod.physics.eos import ScanConfig
from bulkmod.physics.features import eos_results
from bulkmod.uncertainty.conformal import ConformalInterval
from bulkmod.uncertainty.crossfit import cross_fit

CALIBRATION_FOLDS = 5


def fit_calibration(kind: str, k: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """A monotone map log10 K_uMLIP -> log10 K: a line (``slope``, ``intercept``) or isotonic knots (``x``, ``y``)."""
    if kind == "offset":
        return {"slope": [1.0], "intercept": [float(np.median(y - k))]}
    if kind == "linear":
        slope, intercept = np.polyfit(k, y, 1)
        return {"slope": [float(slope)], "intercept": [float(intercept)]}
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip").fit(k, y)
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def apply_calibration(cal: dict[str, list[float]] | None, k: np.ndarray) -> np.ndarray:
    """Map the potential's log10 K through the saved monotone calibration; unchanged without one."""
    if not cal:
        return k
    if "slope" in cal:
        return cal["intercept"][0] + cal["slope"][0] * k
    return np.interp(k, cal["x"], cal["y"])  # isotonic: flat beyond the training range, as sklearn's "clip"


@dataclass(frozen=True)
class UMLIPOptions(Options):
    """The zero-shot model's options: which potential, and whether a monotone map calibrates its K.

    ``potential``: a key of :data:`bulkmod.physics.potentials.POTENTIALS`; ``calibration``: the monotone map
    fitted on the training rows (module docstring), ``none`` for the zero-shot number; ``seed``: the calibration's
    cross-fitting folds (kept so every model takes ``--seed``).
    """

    potential: Literal["chgnet", "sevennet", "sevennet-l3i5", "sevennet-mf-0"] = "chgnet"
    calibration: Literal["none", "offset", "linear", "isotonic"] = "none"
    seed: int = 0


@register("umlip-eos", "zero-shot", "zero-shot K0 from a universal potential's E-V fit (chgnet|sevennet)")
class UMLIPEOSModel(Estimator):
    """Bulk modulus from a universal potential's E–V fit; ``fit`` only calibrates (module docstring)."""

    key: ClassVar[str] = "umlip-eos"
    family: ClassVar[str] = "zero-shot"

    def __init__(
        self,
        *,
        scan: dict | None = None,
        params: dict | None = None,
        calibration_map: dict | None = None,
        **options: Any,
    ) -> None:
        """Take the options of :class:`UMLIPOptions` and of the E–V scan, as keywords or ``params``.

        ``options``: the fields of :class:`UMLIPOptions`; ``params`` (``--param``) may set them and the fields
        of :class:`~bulkmod.physics.eos.ScanConfig` (points, half_width, max_recentre, centre).
        """
        super().__init__()
        own, scan_params = split_options(UMLIPOptions, params)
        self.options = parse_options(UMLIPOptions, options | own, model=self.key)
        self.scan = parse_options(ScanConfig, (scan or {}) | scan_params, model=self.key, listed=[UMLIPOptions])
        self.calibration_map = calibration_map  # fitted state: None until fit calibrates (or for "none")

    def config(self) -> dict[str, Any]:
        return {"scan": self.scan.as_dict(), "calibration_map": self.calibration_map} | self.options.as_dict()

    def _raw(self, ds: Dataset) -> tuple[np.ndarray, list]:
        ds.require_structures("umlip-eos needs crystal structures")
        results = eos_results(ds.structures, self.options.potential, self.scan)
        k = np.array([np.log10(r.k0_gpa) if r.usable else np.nan for r in results])
        return apply_calibration(self.calibration_map, k), results

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        self.calibration_map = None
        k, results = self._raw(ds)
        ok = np.isfinite(k)
        if ok.sum() < 10:
            raise BulkmodError(f"{ds.name}: only {ok.sum()} usable E-V fits: cannot calibrate an interval")
        if self.options.calibration != "none":
            raw, k = k, self._cross_fitted(k, y_log10, ok)
            self.calibration_map = fit_calibration(self.options.calibration, raw[ok], y_log10[ok])
        self.conformal = ConformalInterval.from_residuals(k[ok] - y_log10[ok])
        self.train_info = training_summary(ds) | {"fit_flags": dict(Counter(r.flag for r in results))}
        return self

    def _cross_fitted(self, k: np.ndarray, y: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Each usable row mapped by a calibration fitted without it, so the conformal residuals stay honest."""
        rows = np.flatnonzero(ok)
        fold = np.random.default_rng(self.options.seed).permutation(len(rows)) % CALIBRATION_FOLDS
        folds = [(rows[fold != f], rows[fold == f]) for f in range(CALIBRATION_FOLDS)]
        calibration = self.options.calibration
        return cross_fit(
            folds, len(k), lambda _, tr, te: apply_calibration(fit_calibration(calibration, k[tr], y[tr]), k[te])
        )

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
# (benchmarks/results/umlip/umlip.md, the *-embed rows); add it with --features ...,umlip-embed
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


@dataclass(frozen=True)
class BlendOptions(Options):
    """Passed on to both members: their inner folds (early stopping and each member's calibration) and seed."""

    inner_folds: int = 5
    seed: int = 0


@register("umlip-blend", "physics", "mean of lgbm (descriptors) and umlip-hybrid (+ E-V fit)")
class BlendModel(CompositeEstimator):
    """The mean of two LightGBM models that see different inputs, with or without the potential's E–V fit.

    The members are the descriptors alone (``lgbm``) and the descriptors plus the potential's E–V fit
    (``umlip-hybrid``).

    Their errors differ enough that the mean beats both in distribution, while the E–V member carries the
    out-of-distribution gain (``benchmarks/results/umlip/umlip.md``). Each member keeps its own calibrated adaptive
    interval; the blend reports the mean of their bounds (coverage is measured, not assumed).
    """

    key: ClassVar[str] = "umlip-blend"
    family: ClassVar[str] = "physics"
    members_keys: ClassVar[tuple[str, ...]] = ("lgbm", "umlip-hybrid")

    def __init__(self, *, params: dict | None = None, **config: Any) -> None:
        """``config`` and ``params``: the fields of :class:`BlendOptions`; everything else configures both members."""
        super().__init__()
        self.options, self.member_config, rest = take_options(BlendOptions, config, params, model=self.key)
        self.member_config |= {"params": rest} if rest else {}

    def config(self) -> dict[str, Any]:
        return self.member_config | self.options.as_dict()

    def n_members(self) -> int:
        return len(self.members_keys)

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        cfg = self.config()
        self.members = [build_model(key, **cfg).fit(ds, y_log10, val=val) for key in self.members_keys]
        self.train_info = training_summary(ds)
        return self

    def predict(self, ds: Dataset) -> Prediction:
        preds = [m.predict(ds) for m in self.fitted_members()]

        def mean_of(attr: str) -> np.ndarray | None:
            values = [getattr(p, attr) for p in preds]
            return None if any(v is None for v in values) else np.mean(values, axis=0)

        return Prediction(mean_of("mean_log10"), mean_of("std_log10"), mean_of("lo90_log10"), mean_of("hi90_log10"),
                          self.merged_errors(preds))  # fmt: skip
