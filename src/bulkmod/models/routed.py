"""Today's product as one model: a structure model for crystals with a structure, a composition model otherwise.

Before the all-chemistry models, a structure model trained only on crystals with structures and every
formula-only input fell back to a separate composition model. ``RoutedModel`` is that pair trained on the same
rows as any other model, so a benchmark can compare it, fold for fold, with one model that learns from every
row (:class:`~bulkmod.models.descriptor.DescriptorModel` on a partial join, NaN where a structure is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features.featurizer import DEFAULT_COMPOSITION_GROUPS, DEFAULT_STRUCTURE_GROUPS, FeatureConfig
from bulkmod.models.base import Prediction, training_summary
from bulkmod.models.boosters import check_booster_params
from bulkmod.models.composite import CompositeEstimator
from bulkmod.models.descriptor import DescriptorModel, DescriptorOptions, Stack
from bulkmod.models.options import Options, listing, split_options, take_options
from bulkmod.models.registry import register


@dataclass(frozen=True)
class RoutedOptions(Options):
    """The routed model's own option, ``stack``; everything else configures its members.

    ``stack``: give the structure member the composition member's out-of-fold prediction as a feature
    (``auto``: chosen on the structure member's inner folds).
    """

    stack: Stack = False


@register(
    "structure-routed",
    "descriptor",
    "lgbm on structure descriptors where a crystal has a structure, else on composition",
)
class RoutedModel(CompositeEstimator):
    """Two LightGBM members, each row predicted by the first that can take it, with its own calibrated interval.

    ``member_0``: LightGBM on structure descriptors, trained on the rows with a structure; ``member_1``:
    LightGBM on composition and space group, trained on every row.

    ``stack`` (``true``/``auto``, as for :class:`DescriptorModel`) gives the structure member one more feature:
    the composition member's out-of-fold prediction, so what every row teaches about a composition reaches the
    structure model too (``auto``: with or without it, chosen on the structure member's inner folds).
    ``features`` sets the structure member's groups (e.g. with ``umlip-eos``).
    """

    key: ClassVar[str] = "structure-routed"
    family: ClassVar[str] = "descriptor"
    members_comparable: ClassVar[bool] = False  # each member predicts only the rows routed to it

    def __init__(self, *, features: dict | None = None, params: dict | None = None, **config: Any) -> None:
        super().__init__()
        self.options, self.member_config, self.params = take_options(RoutedOptions, config, params, model=self.key)
        booster = split_options(DescriptorOptions, self.params)[1]
        check_booster_params("lgbm", booster, listing(RoutedOptions, DescriptorOptions))
        self.features = features or FeatureConfig(DEFAULT_STRUCTURE_GROUPS).as_dict()

    def config(self) -> dict[str, Any]:
        return self.member_config | {"features": self.features, "params": self.params} | self.options.as_dict()

    def n_members(self) -> int:
        return 2

    def _members(self) -> list[DescriptorModel]:
        composition = FeatureConfig(DEFAULT_COMPOSITION_GROUPS).as_dict()
        return [
            DescriptorModel(
                "lgbm", features=self.features, params=self.params, stack=self.options.stack, **self.member_config
            ),
            DescriptorModel("lgbm", features=composition, params=self.params, **self.member_config),
        ]

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        rows = np.flatnonzero(ds.structure_mask)
        if len(rows) < 10:
            raise BulkmodError(f"{ds.name}: only {len(rows)} rows have a structure; use a composition model")
        structure, composition = self._members()
        composition.fit(ds, y_log10)
        if self.options.stack:
            if composition.oof_log10 is None:
                raise BulkmodError("structure-routed with stack needs inner_folds >= 2 (out-of-fold predictions)")
            structure.stack_with = (composition, composition.oof_log10[rows])
        structure.fit(ds.subset(rows), y_log10[rows])
        self.members = [structure, composition]
        self.train_info = training_summary(ds) | {"n_structure": len(rows)}
        if "selection" in structure.train_info:  # what the structure member chose on its inner folds (stack or not)
            self.train_info["selection"] = structure.train_info["selection"]
        return self

    def predict(self, ds: Dataset) -> Prediction:
        members = self.fitted_members()
        has = ds.structure_mask
        out = Prediction(np.full(len(ds), np.nan), *(np.full(len(ds), np.nan) for _ in range(3)))
        parts, where = [], []
        for member, rows in zip(members, (np.flatnonzero(has), np.flatnonzero(~has)), strict=True):
            if not len(rows):
                continue
            part = member.predict(ds.subset(rows))
            for attr in ("mean_log10", "std_log10", "lo90_log10", "hi90_log10"):
                if getattr(part, attr) is not None:
                    getattr(out, attr)[rows] = getattr(part, attr)
            parts.append(part)
            where.append(rows)
        out.errors = self.merged_errors(parts, where)
        return out

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        super()._read_weights(directory, manifest)
        structure, composition = self.members
        if isinstance(structure, DescriptorModel) and structure.options.stack:  # saved once, as member_1
            structure.share_stack(composition)
