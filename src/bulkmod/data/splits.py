"""Named train/test splits. Each returns the dataset to use and a list of (train_idx, test_idx)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

from bulkmod.data.records import Dataset
from bulkmod.data.validate import material_groups
from bulkmod.errors import BulkmodError
from bulkmod.io import shared_data_dir

MATBENCH_SEED = 18012019  # the seed matbench uses for its official KFold
Folds = list[tuple[np.ndarray, np.ndarray]]


def kfold(ds: Dataset, k: int = 5) -> tuple[Dataset, Folds]:
    if k < 2 or k > len(ds):
        raise BulkmodError(f"--folds {k}: need 2 <= K <= {len(ds)} rows")
    splitter = KFold(n_splits=k, shuffle=True, random_state=MATBENCH_SEED)
    return ds, keep_together(list(splitter.split(np.arange(len(ds)))), material_groups(ds))


def keep_together(folds: Folds, groups: np.ndarray) -> Folds:
    """Move every row into the test fold of the first row of its group: one material under several ids would
    otherwise sit in train and test at once. A dataset without repeats keeps its folds exactly."""
    fold_of = np.empty(len(groups), dtype=int)
    for f, (_, test) in enumerate(folds):
        fold_of[test] = f
    moved = fold_of[groups]
    if np.array_equal(moved, fold_of):
        return folds
    rows = np.arange(len(groups))
    return [(rows[moved != f], rows[moved == f]) for f in range(len(folds))]


def formula_grouped(ds: Dataset, k: int = 5) -> tuple[Dataset, Folds]:
    """No reduced formula appears in both train and test (polymorphs stay together)."""
    return ds, _group_folds(ds, k, ds.reduced_formulas, "formula-grouped", "formulas")


def chemsys_grouped(ds: Dataset, k: int = 5) -> tuple[Dataset, Folds]:
    """No chemical system (the sorted element set, e.g. Mg-O) appears in both train and test.

    Harder than formula-grouped: MgO2 goes with MgO, so a test material has no other stoichiometry of its own
    elements in training. Other systems sharing elements (Mg-O-Si beside Mg-O) can still be on both sides.
    """
    return ds, _group_folds(ds, k, ds.chemical_systems, "chemsys-grouped", "chemical systems")


def _group_folds(ds: Dataset, k: int, groups: list[str], split: str, what: str) -> Folds:
    if len(set(groups)) < k:
        raise BulkmodError(f"{split} split: only {len(set(groups))} distinct {what} for {k} folds")
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=MATBENCH_SEED)
    return list(splitter.split(np.arange(len(ds)), groups=groups))


def matbench_official(ds: Dataset, k: int = 5) -> tuple[Dataset, Folds]:
    """The official matbench v0.1 folds for matbench_log_kvrh, matched by mbid."""
    if not ds.ids or not str(ds.ids[0]).startswith("mb-log-kvrh-"):
        raise BulkmodError(f"matbench-official split needs a matbench_log_kvrh dataset, not {ds.name!r}")
    with gzip.open(shared_data_dir() / "matbench" / "matbench_v0.1_validation.json.gz") as fh:
        folds = json.load(fh)["splits"]["matbench_log_kvrh"]
    pos = {mbid: i for i, mbid in enumerate(ds.ids)}
    out = []
    for name in sorted(folds, key=lambda f: int(f.split("_")[-1])):
        # with --limit only part of each official test fold is present: keep that part
        test = np.array(sorted(pos[m] for m in folds[name]["test"] if m in pos), dtype=int)
        if len(test) == 0:
            raise BulkmodError(f"matbench-official: no test id of {name} is in {ds.name}")
        train = np.setdiff1d(np.arange(len(ds)), test)
        out.append((train, test))
    return ds, out


def ood_elastic2015(ds: Dataset, k: int = 5) -> tuple[Dataset, Folds]:
    """Test on the elastic-2015 crystals whose mp_id is not in mp-binary-2025 (ternary and richer, mostly).

    Trained on all of mp-binary-2025, or, given ``mp-kvrh-all``, on every material of the join whose reduced
    formula is not among the test crystals' (the join holds the test crystals themselves and their polymorphs).
    """
    from bulkmod.data.loaders import load_elastic_2015, load_mp_binary_2025

    binaries = ds if ds.name == "mp-binary-2025" else load_mp_binary_2025()
    other = load_elastic_2015()
    seen = set(binaries.ids)
    test = other.subset([i for i, mid in enumerate(other.ids) if mid not in seen])
    if ds.name == "mp-kvrh-all":
        held_out = set(test.reduced_formulas)
        train = ds.subset([i for i, f in enumerate(ds.reduced_formulas) if f not in held_out])
    else:
        train = binaries
    combined = concat([train, test], name=f"{train.name}+elastic-2015")
    return combined, [(np.arange(len(train)), np.arange(len(train), len(combined)))]


def concat(parts: list[Dataset], name: str) -> Dataset:
    """Rows of ``parts`` in order; structures where each row has one, provenance (``meta``) where a part has it."""

    def cat(attr: str) -> list | None:
        vals = [getattr(p, attr) for p in parts]
        return None if any(v is None for v in vals) else [x for v in vals for x in v]

    metas = [p.meta if p.meta is not None else pd.DataFrame(index=range(len(p))) for p in parts]
    return Dataset(
        name=name,
        ids=cat("ids"),
        compositions=cat("compositions"),
        k_vrh=np.concatenate([p.k_vrh for p in parts]),
        partial_structures=cat("row_structures"),
        g_vrh=np.concatenate([p.g_vrh if p.g_vrh is not None else np.full(len(p), np.nan) for p in parts]),
        spacegroup=np.concatenate([p.spacegroup if p.spacegroup is not None else np.zeros(len(p), int) for p in parts]),
        meta=None if all(p.meta is None for p in parts) else pd.concat(metas, ignore_index=True),
    )


SPLITS: dict[str, Callable[[Dataset, int], tuple[Dataset, Folds]]] = {
    "kfold": kfold,
    "matbench-official": matbench_official,
    "formula-grouped": formula_grouped,
    "chemsys-grouped": chemsys_grouped,
    "ood-elastic2015": ood_elastic2015,
}


def make_split(name: str, ds: Dataset, k: int = 5) -> tuple[Dataset, Folds]:
    if name not in SPLITS:
        raise BulkmodError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
    return SPLITS[name](ds, k)
