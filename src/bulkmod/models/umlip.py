"""Zero-shot bulk modulus from a universal potential's E–V fit: no training data touches the number.

``fit`` only calibrates the conformal interval on the training part's residuals (and records how often the
potential's fit was unusable). Crystals whose fit is flagged get no K, with the flag as the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.models.base import Estimator, Prediction, training_summary
from bulkmod.physics.eos import ScanConfig
from bulkmod.physics.features import eos_results
from bulkmod.physics.potentials import POTENTIALS
from bulkmod.uncertainty.conformal import ConformalInterval


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
        self.scan = ScanConfig(**(scan or {}))
        self.seed = seed  # unused: the model is deterministic; kept so every model takes --seed

    def config(self) -> dict[str, Any]:
        return {"potential": self.potential, "scan": self.scan.as_dict(), "seed": self.seed}

    def _raw(self, ds: Dataset) -> tuple[np.ndarray, list]:
        if not ds.has_structures:
            raise BulkmodError(f"{ds.name}: umlip-eos needs crystal structures, not compositions")
        results = eos_results(ds.structures, self.potential, self.scan)
        k = np.array([np.log10(r.k0_gpa) if r.usable else np.nan for r in results])
        return k, results

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        k, results = self._raw(ds)
        ok = np.isfinite(k)
        if ok.sum() < 10:
            raise BulkmodError(f"{ds.name}: only {ok.sum()} usable E-V fits: cannot calibrate an interval")
        self.conformal = ConformalInterval.from_residuals(k[ok] - y_log10[ok])
        flags: dict[str, int] = {}
        for r in results:
            flags[r.flag] = flags.get(r.flag, 0) + 1
        self.train_info = training_summary(ds) | {"fit_flags": flags}
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
