"""Today's product as one model: a structure model for crystals with a structure, a composition model otherwise.

Before the all-chemistry models, a structure model trained only on crystals with structures and every
formula-only input fell back to a separate composition model. ``RoutedModel`` is that pair trained on the same
rows as any other model, so a benchmark can compare it, fold for fold, with one model that learns from every
row (:class:`~bulkmod.models.descriptor.DescriptorModel` on a partial join, NaN where a structure is missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features.featurizer import DEFAULT_COMPOSITION_GROUPS, DEFAULT_STRUCTURE_GROUPS, FeatureConfig
from bulkmod.models.base import Estimator, Prediction, load_members, save_members, training_summary
from bulkmod.models.descriptor import DescriptorModel


class RoutedModel(Estimator):
    """``member_0``: LightGBM on structure descriptors, trained on the rows with a structure; ``member_1``:
    LightGBM on composition and space group, trained on every row. Each row is predicted by the first member
    that can take it, with that member's own calibrated interval."""

    key: ClassVar[str] = "structure-routed"
    family: ClassVar[str] = "descriptor"

    def __init__(self, **member_config: Any) -> None:
        super().__init__()
        self.member_config = member_config
        self.members: list[Estimator] = []

    def config(self) -> dict[str, Any]:
        return dict(self.member_config)

    def _members(self) -> list[DescriptorModel]:
        groups = (DEFAULT_STRUCTURE_GROUPS, DEFAULT_COMPOSITION_GROUPS)
        return [DescriptorModel("lgbm", features=FeatureConfig(g).as_dict(), **self.member_config) for g in groups]

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        rows = np.flatnonzero(ds.structure_mask)
        if len(rows) < 10:
            raise BulkmodError(f"{ds.name}: only {len(rows)} rows have a structure; use a composition model")
        structure, composition = self._members()
        structure.fit(ds.subset(rows), y_log10[rows])
        composition.fit(ds, y_log10)
        self.members = [structure, composition]
        self.train_info = training_summary(ds) | {"n_structure": len(rows)}
        return self

    def predict(self, ds: Dataset) -> Prediction:
        if not self.members:
            raise BulkmodError("model is not fitted")
        has = ds.structure_mask
        out = Prediction(np.full(len(ds), np.nan), *(np.full(len(ds), np.nan) for _ in range(3)))
        for member, rows in zip(self.members, (np.flatnonzero(has), np.flatnonzero(~has)), strict=True):
            if not len(rows):
                continue
            part = member.predict(ds.subset(rows))
            for attr in ("mean_log10", "std_log10", "lo90_log10", "hi90_log10"):
                if getattr(part, attr) is not None:
                    getattr(out, attr)[rows] = getattr(part, attr)
            out.errors |= {int(rows[j]): why for j, why in part.errors.items()}
        return out

    def _write_weights(self, directory: Path) -> list[str]:
        return save_members(directory, self.members)

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        self.members = load_members(directory, 2)
