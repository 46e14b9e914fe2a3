"""Is a crystal inside the training domain? Unseen elements, extreme descriptors, unusual combinations.

A conformal interval is calibrated on crystals like the training ones; for a crystal outside that
distribution it is a guess. Two descriptor checks, with statistics saved in the model manifest:
a descriptor beyond the training min/max by more than ``margin`` of its training range, and a
Mahalanobis distance on the leading principal components of the standardised descriptors above the
99th percentile of the training crystals' own distances. A model trained on binaries only flags every
ternary by ``n_elements``, and on ood-elastic2015 the flagged crystals are the ones with the larger errors and
the less reliable interval: the flag is the warning that the interval may not hold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.features import FeatureConfig, featurize
from bulkmod.features.scaling import Standardiser

MARGIN = 0.1  # of the training range, on either side
COMPONENTS = 10
PERCENTILE = 99.0


@dataclass
class DescriptorDomain:
    """The training descriptors' ranges and principal axes, saved in the manifest to check new crystals on."""

    features: dict
    lo: list[float]
    hi: list[float]
    mean: list[float]
    std: list[float]
    components: list[list[float]]  # rows: principal axes of the standardised descriptors, scaled to unit variance
    threshold: float
    margin: float = MARGIN

    @classmethod
    def fit(cls, ds: Dataset, features: FeatureConfig | None = None) -> DescriptorDomain:
        cfg = features or FeatureConfig.default_for(ds)
        X = featurize(ds, cfg)[0]
        scale = Standardiser.fit(X, floor=1e-12)
        Z = scale.transform(X)
        _, s, vt = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
        k = min(COMPONENTS, len(s))
        whiten = vt[:k] / (s[:k, None] / np.sqrt(len(Z)))  # projected training rows have unit variance
        dist = np.linalg.norm(Z @ whiten.T, axis=1)
        return cls(
            cfg.as_dict(),
            np.nanmin(X, 0).tolist(),
            np.nanmax(X, 0).tolist(),
            scale.mean.tolist(),
            scale.std.tolist(),
            whiten.tolist(),
            float(np.percentile(dist, PERCENTILE)),
        )

    def check(self, ds: Dataset) -> list[str]:
        """Per crystal: "" inside the domain, else why not (first offending descriptor, or the distance)."""
        cfg = FeatureConfig.from_dict(self.features)
        X = featurize(ds, cfg)[0]
        lo, hi = np.array(self.lo), np.array(self.hi)
        pad = self.margin * (hi - lo)
        outside = np.less(X, lo - pad) | np.greater(X, hi + pad)
        Z = Standardiser(np.array(self.mean), np.array(self.std)).transform(X)
        dist = np.linalg.norm(Z @ np.array(self.components).T, axis=1)
        names = cfg.names()
        out = []
        for i in range(len(X)):
            if outside[i].any():
                j = int(np.argmax(outside[i]))
                out.append(f"extreme descriptor {names[j]} = {X[i, j]:.4g} (training {lo[j]:.4g} to {hi[j]:.4g})")
            elif dist[i] > self.threshold:
                out.append(f"unusual descriptors (distance {dist[i]:.1f} > {self.threshold:.1f})")
            else:
                out.append("")
        return out

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DescriptorDomain:
        """The inverse of :meth:`as_dict`, checked so a bad manifest fails on loading.

        ``ValueError`` where the statistics do not fit the descriptors (a hand-edited manifest), which :meth:`check`
        would otherwise trip over at prediction time.
        """
        domain = cls(**d)
        n = len(FeatureConfig.from_dict(domain.features).names())
        vectors = [np.asarray(v, dtype=float) for v in (domain.lo, domain.hi, domain.mean, domain.std)]
        components = np.asarray(domain.components, dtype=float)
        scalars = np.asarray([domain.threshold, domain.margin], dtype=float)
        if any(v.shape != (n,) for v in vectors) or components.ndim != 2 or components.shape[1] != n:
            raise ValueError(f"domain statistics do not match its {n} descriptors")
        if not all(np.isfinite(a).all() for a in (*vectors[2:], components, scalars)):
            raise ValueError("domain statistics hold NaN or infinite values")
        return domain
