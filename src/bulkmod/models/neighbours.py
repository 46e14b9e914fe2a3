"""Neighbour-target features (stacking): what the training set says about crystals like this one.

Many compositions occur several times with different space groups (polymorphs), and nearby compositions
have similar moduli. For a query crystal these features summarise the training targets (log10 K) of

* the rows with the same reduced formula (count, mean, min, max), the same formula and crystal system,
  the same formula and space group, and the same element set (chemical system);
* its k nearest training compositions in element-fraction space and in standardised Magpie space
  (distance-weighted mean for k = 5 and 10, distance to and target of the nearest one).

They use training targets, so a model may only ever see them computed *without* the row's own target:
:class:`NeighbourStacker` is the out-of-fold stacking transformer a model uses. Its ``fit_transform`` gives
each training row the features of a table built from the other folds (a row's own target, and those of its
fold-mates, never enter its own features); its ``transform`` looks new rows up in a table of every training
row. The table is saved as an ``.npz`` of plain arrays (numbers and fixed-width strings, loaded with
``allow_pickle=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features.composition import fraction_matrix, magpie_features
from bulkmod.features.elements import N_Z
from bulkmod.features.scaling import Standardiser
from bulkmod.features.spacegroup import crystal_system
from bulkmod.io import atomic_path
from bulkmod.models.formats import check_arrays, load_npz
from bulkmod.uncertainty.crossfit import cross_fit, kfold

NEIGHBOUR_FILE = "neighbours.npz"
CHUNK = 1024
DEFAULTS = {"folds": 5}
KS = (5, 10)
# added to the distance before 1/d weighting: the scale of a small step in each space (a few % of one element
# in fractions; a small fraction of one standard deviation per descriptor in the Magpie space)
EPS = {"frac": 0.02, "magpie": 0.5}
GROUP_KEYS = {"formula": ("n", "mean", "min", "max"), "formula_sys": ("n", "mean"), "formula_spg": ("n", "mean"),
              "chemsys": ("n", "mean")}  # fmt: skip
# the saved table: one row per training crystal (n), fractions over every element (z)
TABLE_ARRAYS = {"formula": ("U", ("n",)), "chemsys": ("U", ("n",)), "spg": ("iu", ("n",)),
                "frac": ("f", ("n", "z")), "y_log10": ("f", ("n",))}  # fmt: skip


def neighbour_config(value: bool | dict | None) -> dict | None:
    """``True`` / a dict of options -> the full option dict; ``False`` / ``None`` -> off."""
    if value in (None, False):
        return None
    if value is True:
        return dict(DEFAULTS)
    if not isinstance(value, dict) or set(value) - set(DEFAULTS):
        raise BulkmodError(f"neighbours: use true, false or a dict with keys {sorted(DEFAULTS)}, not {value!r}")
    cfg = DEFAULTS | value
    if int(cfg["folds"]) < 2:
        raise BulkmodError("neighbours: folds must be >= 2 (out-of-fold features need a held-out part)")
    return cfg


def neighbour_names() -> list[str]:
    """Column names of the neighbour features, in the order the feature blocks hold them."""
    names = [f"nb_{key}_{stat}" for key, stats in GROUP_KEYS.items() for stat in stats]
    for space in EPS:
        names += [f"nb_{space}_k{k}_mean" for k in KS] + [f"nb_{space}_d1", f"nb_{space}_y1"]
    return names


@dataclass
class NeighbourKeys:
    """What the features look up for each row: formula, element set, space group (0 unknown), fractions."""

    formula: np.ndarray  # fixed-width unicode
    chemsys: np.ndarray
    spg: np.ndarray
    frac: np.ndarray
    magpie: np.ndarray | None = None  # raw Magpie descriptors of ``frac`` (computed once, then sliced)

    def __post_init__(self) -> None:
        if self.magpie is None:
            self.magpie = magpie_features(self.frac)

    @classmethod
    def from_dataset(cls, ds: Dataset, spg: np.ndarray | None = None) -> NeighbourKeys:
        if spg is None:
            spg = ds.spacegroup if ds.spacegroup is not None else np.zeros(len(ds), int)
        return cls(
            formula=np.array(ds.reduced_formulas, dtype=str),
            chemsys=np.array([c.chemical_system for c in ds.compositions], dtype=str),
            spg=np.nan_to_num(np.asarray(spg, dtype=float)).astype(int),
            frac=fraction_matrix(ds.compositions),
        )

    def subset(self, idx: np.ndarray) -> NeighbourKeys:
        return NeighbourKeys(self.formula[idx], self.chemsys[idx], self.spg[idx], self.frac[idx], self.magpie[idx])

    def __len__(self) -> int:
        return len(self.formula)

    def group_key(self, key: str) -> np.ndarray:
        if key == "formula":
            return self.formula
        if key == "chemsys":
            return self.chemsys
        # an unknown space group never matches another one
        if key == "formula_sys":
            other, known = crystal_system(self.spg), self.spg > 0
        else:
            other, known = self.spg, self.spg > 0
        return np.where(known, np.char.add(np.char.add(self.formula, "|"), other.astype(str)), "")


class NeighbourTable:
    """Training rows (keys + log10 K) that neighbour features are looked up in."""

    def __init__(self, keys: NeighbourKeys, y_log10: np.ndarray) -> None:
        y_log10 = np.asarray(y_log10, dtype=float)
        if len(keys) != len(y_log10) or not np.all(np.isfinite(y_log10)):
            raise BulkmodError("neighbour table: needs one finite log10 K per row")
        self.keys, self.y = keys, y_log10
        self._scale = Standardiser.fit(keys.magpie, floor=0.0)
        self._spaces = {"frac": keys.frac, "magpie": self._magpie(keys)}

    def _magpie(self, keys: NeighbourKeys) -> np.ndarray:
        return self._scale.transform(keys.magpie)

    def __len__(self) -> int:
        return len(self.y)

    def query(self, keys: NeighbourKeys) -> np.ndarray:
        """(len(keys), len(neighbour_names())) features of the query rows from every row of this table."""
        cols = []
        for key, stats in GROUP_KEYS.items():
            table = pd.DataFrame({"k": self.keys.group_key(key), "y": self.y})
            table = table[table.k != ""]
            agg = table.groupby("k")["y"].agg(n="size", mean="mean", min="min", max="max")
            found = agg.reindex(keys.group_key(key))
            for stat in stats:
                col = found[stat].to_numpy(dtype=float)
                cols.append(np.nan_to_num(col) if stat == "n" else col)  # n = 0, the statistics NaN, when none
        for space, eps in EPS.items():
            cols += self._knn(space, keys, eps)
        return np.column_stack(cols) if cols else np.empty((len(keys), 0))

    def _knn(self, space: str, keys: NeighbourKeys, eps: float) -> list[np.ndarray]:
        from sklearn.metrics import pairwise_distances

        m = len(keys)
        if len(self) == 0:
            return [np.full(m, np.nan)] * (len(KS) + 2)
        ref = self._spaces[space]
        query = keys.frac if space == "frac" else self._magpie(keys)
        kmax = min(max(KS), len(self))
        dist, idx = np.empty((m, kmax)), np.empty((m, kmax), dtype=int)
        for start in range(0, m, CHUNK):  # bounded memory: CHUNK x n distances at a time
            d = pairwise_distances(query[start : start + CHUNK], ref, metric="euclidean")
            near = np.argpartition(d, kmax - 1, axis=1)[:, :kmax] if kmax < d.shape[1] else np.argsort(d, axis=1)
            near = np.take_along_axis(near, np.argsort(np.take_along_axis(d, near, axis=1), axis=1), axis=1)
            dist[start : start + CHUNK], idx[start : start + CHUNK] = np.take_along_axis(d, near, axis=1), near
        y = self.y[idx]
        out = []
        for k in KS:
            w = 1.0 / (dist[:, :k] + eps)
            out.append(np.sum(w * y[:, :k], axis=1) / np.sum(w, axis=1))
        return [*out, dist[:, 0], y[:, 0]]

    def out_of_fold(self, folds: int, seed: int) -> np.ndarray:
        """Features of this table's own rows, each computed from the rows outside its fold."""
        if len(self) < folds:
            raise BulkmodError(f"neighbour features: {len(self)} rows cannot make {folds} folds")
        folds_ = kfold(len(self), folds, seed)
        return cross_fit(folds_, len(self), lambda _, tr, te: self.subset(tr).query(self.keys.subset(te)))

    def subset(self, idx: np.ndarray) -> NeighbourTable:
        return NeighbourTable(self.keys.subset(idx), self.y[idx])

    def save(self, path: Path) -> None:
        arrays = {"formula": self.keys.formula, "chemsys": self.keys.chemsys, "spg": self.keys.spg,
                  "frac": self.keys.frac, "y_log10": self.y}  # fmt: skip
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> NeighbourTable:
        z = load_npz(path)
        check_arrays(path, z, TABLE_ARRAYS, z=N_Z)
        return cls(NeighbourKeys(z["formula"], z["chemsys"], z["spg"], z["frac"]), z["y_log10"])


class NeighbourStacker:
    """Neighbour features as an out-of-fold stacking transformer, so no row's features hold its own target.

    The rows it is fitted on get features from ``folds``-fold tables that never hold their own fold, new rows
    features from every fitted row.
    """

    def __init__(self, folds: int, seed: int) -> None:
        self.folds, self.seed = folds, seed
        self.table: NeighbourTable | None = None

    def fit_transform(self, keys: NeighbourKeys, y_log10: np.ndarray) -> np.ndarray:
        self.table = NeighbourTable(keys, y_log10)
        return self.table.out_of_fold(self.folds, self.seed)

    def transform(self, keys: NeighbourKeys) -> np.ndarray:
        return self._fitted().query(keys)

    def save(self, path: Path) -> None:
        self._fitted().save(path)

    def load(self, path: Path) -> None:
        self.table = NeighbourTable.load(path)

    def _fitted(self) -> NeighbourTable:
        if self.table is None:
            raise BulkmodError("neighbour features: fit_transform the training rows first")
        return self.table
