"""Feature sets by named group, with a per-structure disk cache.

Cache key = (group, feature code version, config hash, structure hash): re-running a benchmark,
an ablation or a prediction on known structures costs a lookup, not a recomputation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from bulkmod.data.cache import cached_vectors
from bulkmod.data.records import Dataset
from bulkmod.data.symmetry import spacegroup_number
from bulkmod.errors import BulkmodError
from bulkmod.features.composition import (
    extra_features,
    extra_names,
    fraction_matrix,
    fraction_names,
    magpie_features,
    magpie_names,
    stoichiometry_features,
    stoichiometry_names,
)
from bulkmod.features.spacegroup import spacegroup_features, spacegroup_names
from bulkmod.features.structure import GROUP_NAMES, SHELL_TOL, structure_features
from bulkmod.io import sha256_json
from bulkmod.physics.eos import CENTRES, ScanConfig
from bulkmod.physics.features import (
    EOS_NAMES,
    ION_NAMES,
    RELAXED_NAMES,
    embedding_features,
    embedding_names,
    eos_features,
    ion_strain_features,
    relaxed_ion_features,
)
from bulkmod.physics.potentials import POTENTIALS

FEATURE_VERSION = "1"
BLOCK = 500  # crystals per cache write: a killed run keeps the descriptors it computed
COMPOSITION_GROUPS = ("magpie", "stoich", "extra", "fractions")
STRUCTURE_GROUPS = tuple(GROUP_NAMES)
# computed by a universal interatomic potential (bulkmod.physics): E–V fit, how hard a strain pushes the ions,
# and crystal embedding
PHYSICS_GROUPS = ("umlip-eos", "umlip-ions", "umlip-relaxed", "umlip-embed")
PHYSICS_NAMES = {"umlip-eos": EOS_NAMES, "umlip-ions": ION_NAMES, "umlip-relaxed": RELAXED_NAMES}
ALL_GROUPS = (*COMPOSITION_GROUPS, "spacegroup", *STRUCTURE_GROUPS, *PHYSICS_GROUPS)
# v1 defaults (the shipped model and the committed mp-binary-2025 results use these)
DEFAULT_STRUCTURE_GROUPS = ("magpie", "stoich", "spacegroup", *STRUCTURE_GROUPS)
DEFAULT_COMPOSITION_GROUPS = ("magpie", "stoich", "spacegroup")
COMPOSITION_NAMES = {
    "magpie": magpie_names,
    "stoich": stoichiometry_names,
    "extra": extra_names,
    "fractions": fraction_names,
    "spacegroup": spacegroup_names,
}
COMPOSITION_FEATURES = {
    "magpie": magpie_features,
    "stoich": stoichiometry_features,
    "extra": extra_features,
    "fractions": lambda frac: frac[:, 1:],
}


@dataclass(frozen=True)
class FeatureConfig:
    """Which descriptor groups to compute. Saved in every model manifest."""

    groups: tuple[str, ...] = DEFAULT_STRUCTURE_GROUPS
    shell_tol: float = SHELL_TOL
    version: str = field(default=FEATURE_VERSION)
    potential: str = "chgnet"  # for the umlip-* groups
    # where the umlip-eos group's E-V scan sits (physics/eos.py): "bracket", as the shipped models were trained,
    # or "equilibrium", whose features do not depend on the input cell
    eos_centre: str = "bracket"
    # True: a row without a structure gets NaN in the structure and potential groups (a joined dataset where only
    # some rows have one; LightGBM routes missing values itself). False: such rows are refused, so a model that
    # never saw a missing structure is never handed one (they go to the composition model instead).
    missing_structures: bool = False

    def __post_init__(self) -> None:
        unknown = [g for g in self.groups if g not in ALL_GROUPS]
        if unknown:
            raise BulkmodError(f"unknown feature group(s) {unknown}: use {', '.join(ALL_GROUPS)}")
        if self.potential not in POTENTIALS:
            raise BulkmodError(f"unknown potential {self.potential!r}: use {', '.join(POTENTIALS)}")
        if self.eos_centre not in CENTRES:
            raise BulkmodError(f"unknown E-V scan centre {self.eos_centre!r}: use {' or '.join(CENTRES)}")

    @property
    def uses_potential(self) -> bool:
        """Some group is computed by ``potential`` (the umlip-* groups), so the model runs it at prediction time."""
        return any(g in PHYSICS_GROUPS for g in self.groups)

    @property
    def needs_structure(self) -> bool:
        """Some group is computed from a structure (the rows without one are NaN there or refused)."""
        return self.uses_potential or any(g in STRUCTURE_GROUPS for g in self.groups)

    @property
    def requires_structure(self) -> bool:
        """A row without a structure cannot be featurised at all."""
        return self.needs_structure and not self.missing_structures

    def as_dict(self) -> dict:
        """The settings, ``eos_centre`` only when it is not the original one (manifests before it stay equal)."""
        d = asdict(self) | {"groups": list(self.groups)}
        if self.eos_centre == "bracket":
            del d["eos_centre"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        return cls(
            groups=tuple(d["groups"]),
            shell_tol=d["shell_tol"],
            version=d["version"],
            potential=d.get("potential", "chgnet"),  # models saved before the physics groups existed
            missing_structures=bool(d.get("missing_structures", False)),  # and before joined datasets
            eos_centre=d.get("eos_centre", "bracket"),
        )

    @classmethod
    def default_for(cls, ds: Dataset) -> FeatureConfig:
        """Structure groups when any row has a structure (NaN on the rows without one), else composition groups."""
        if ds.has_structures:
            return cls(DEFAULT_STRUCTURE_GROUPS)
        if ds.structure_mask.any():
            return cls(DEFAULT_STRUCTURE_GROUPS, missing_structures=True)
        return cls(DEFAULT_COMPOSITION_GROUPS)

    def for_data(self, ds: Dataset) -> FeatureConfig:
        """This config, told to accept missing structures when ``ds`` is a join where only some rows have one.

        That is how a model trained on such a join records that it learned from rows without a structure.
        """
        partial = self.needs_structure and not ds.has_structures and ds.structure_mask.any()
        return replace(self, missing_structures=True) if partial else self

    def names(self) -> list[str]:
        names: list[str] = []
        for g in self.groups:
            if g in COMPOSITION_NAMES:
                names += COMPOSITION_NAMES[g]()
            elif g in PHYSICS_GROUPS:
                names += PHYSICS_NAMES.get(g) or embedding_names(self.potential)
            else:
                names += GROUP_NAMES[g]
        return names


def _structure_block(ds: Dataset, cfg: FeatureConfig, groups: list[str]) -> tuple[dict[str, np.ndarray], dict]:
    """Structure-derived groups (incl. detected space group), from cache where possible."""
    tag = sha256_json({"v": cfg.version, "tol": cfg.shell_tol})[:12]
    errors: dict[int, str] = {}
    struct_groups = tuple(g for g in groups if g != "spacegroup")

    def compute(rows: list[int]) -> Iterator[dict[str, np.ndarray]]:
        for i in rows:
            try:
                row = structure_features(ds.structures[i], struct_groups, cfg.shell_tol)
                if "spacegroup" in groups:
                    row["spacegroup"] = np.array([spacegroup_number(ds.structures[i])], dtype=float)
            except BulkmodError as exc:
                errors[i] = str(exc)
                row = {}
            yield row

    widths = {g: 1 if g == "spacegroup" else len(GROUP_NAMES[g]) for g in groups}
    blocks = cached_vectors(
        "features.sqlite", ds.structures, tag, widths, compute, block=BLOCK, desc="structure features", quiet_below=200
    )
    return blocks, errors


def featurize(ds: Dataset, cfg: FeatureConfig) -> tuple[np.ndarray, dict[int, str]]:
    """(n, n_features) matrix in ``cfg.names()`` order, and per-row errors (rows left NaN)."""
    if cfg.needs_structure and not ds.has_structures:
        if not cfg.missing_structures:
            groups = [g for g in cfg.groups if g not in COMPOSITION_NAMES]
            ds.require_structures(f"feature groups {groups} need structures")
        return _featurize_partial(ds, cfg)
    frac = fraction_matrix(ds.compositions)
    blocks: dict[str, np.ndarray] = {}
    errors: dict[int, str] = {}
    for g in cfg.groups:
        if g in COMPOSITION_FEATURES:
            blocks[g] = COMPOSITION_FEATURES[g](frac)
    spg = ds.spacegroup if ds.spacegroup is not None else np.zeros(len(ds), int)
    struct_groups = [g for g in cfg.groups if g in STRUCTURE_GROUPS]
    need_spg = "spacegroup" in cfg.groups and ds.has_structures and not np.all(spg > 0)
    if struct_groups or need_spg:
        sblocks, errors = _structure_block(ds, cfg, struct_groups + (["spacegroup"] if need_spg else []))
        blocks.update(sblocks)
        if need_spg:
            spg = np.where(spg > 0, spg, np.nan_to_num(sblocks.pop("spacegroup")[:, 0]).astype(int))
    if "spacegroup" in cfg.groups:
        blocks["spacegroup"] = spacegroup_features(spg)
    if "umlip-eos" in cfg.groups:  # NaN where the fit has no number; umlip_flagged says why it is missing
        blocks["umlip-eos"] = eos_features(ds.structures, cfg.potential, ScanConfig(centre=cfg.eos_centre))
    if "umlip-ions" in cfg.groups:
        blocks["umlip-ions"] = ion_strain_features(ds.structures, cfg.potential)
    if "umlip-relaxed" in cfg.groups:  # the same scan as umlip-eos, less the ions' softening
        blocks["umlip-relaxed"] = relaxed_ion_features(ds.structures, cfg.potential, ScanConfig(centre=cfg.eos_centre))
    if "umlip-embed" in cfg.groups:
        blocks["umlip-embed"] = embedding_features(ds.structures, cfg.potential)
    X = np.column_stack([blocks[g] for g in cfg.groups]).astype(float)
    return X, errors


def _featurize_partial(ds: Dataset, cfg: FeatureConfig) -> tuple[np.ndarray, dict[int, str]]:
    """Composition groups on every row, structure and potential groups on the rows that have a structure.

    The structure and potential columns are NaN elsewhere. The space group is the dataset's own where it has none
    to detect it from.
    """
    names = cfg.names()
    X = np.full((len(ds), len(names)), np.nan)
    comp = replace(cfg, groups=tuple(g for g in cfg.groups if g in COMPOSITION_NAMES))
    if comp.groups:
        cols = [names.index(n) for n in comp.names()]
        X[:, cols] = featurize(ds, comp)[0]
    rows = np.flatnonzero(ds.structure_mask)
    errors: dict[int, str] = {}
    if len(rows):
        Xs, sub_errors = featurize(ds.subset(rows), replace(cfg, missing_structures=False))
        X[rows] = Xs
        errors = {int(rows[j]): why for j, why in sub_errors.items()}
    return X, errors
