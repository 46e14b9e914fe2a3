"""Named train/test splits. Each makes :class:`Folds` of a dataset: train and test datasets named for what they hold.

A split names its parts because only it knows what they are: a k-fold's parts are the dataset it was given, while
ood-elastic2015 trains on mp-binary-2025 (or the join) and tests on the elastic-2015 crystals outside it. Benchmarks
and reports take those names from the folds instead of testing split names.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

from bulkmod.data.records import Dataset
from bulkmod.data.validate import material_groups
from bulkmod.errors import BulkmodError
from bulkmod.io import shared_data_dir

MATBENCH_SEED = 18012019  # the seed matbench uses for its official KFold
OOD_TEST_NAME = "elastic-2015-not-in-mp-binary-2025"
Rows = list[tuple[np.ndarray, np.ndarray]]  # (train rows, test rows) per fold


@dataclass(frozen=True)
class Fold:
    """One train/test pair, each a dataset named for what it holds.

    ``train_rows`` and ``test_rows`` are their positions in :attr:`Folds.data`, for arrays computed once over all
    of it (features, embeddings) that a fold must index the same way.
    """

    train: Dataset
    test: Dataset
    train_rows: np.ndarray
    test_rows: np.ndarray


@dataclass(frozen=True)
class Folds:
    """What a named split made of a dataset: its folds, the rows they draw from, and facts worth recording.

    ``data`` is the dataset the split was given, or what it built from it (ood-elastic2015 appends the test
    crystals). ``notes`` are counts a split reports about itself (how many test formulas training also holds, ...)
    that a results file records beside its metrics.
    """

    data: Dataset
    folds: tuple[Fold, ...]
    notes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        data: Dataset,
        rows: Rows,
        *,
        train_name: str | None = None,
        test_name: str | None = None,
        notes: dict[str, int] | None = None,
    ) -> Folds:
        """Folds of ``data`` at ``rows``; each part is named ``data.name`` unless the split names it."""
        folds = tuple(Fold(data.subset(tr, train_name), data.subset(te, test_name), tr, te) for tr, te in rows)
        return cls(data, folds, notes or {})

    def __len__(self) -> int:
        return len(self.folds)

    def __iter__(self) -> Iterator[Fold]:
        return iter(self.folds)

    def __getitem__(self, k: int) -> Fold:
        return self.folds[k]

    @property
    def train_name(self) -> str:
        """What the models were trained on, as a results file names it."""
        return self.folds[0].train.name

    @property
    def test_name(self) -> str:
        """What the predictions were scored on, as a results file names it."""
        return self.folds[0].test.name


def kfold(ds: Dataset, k: int = 5) -> Folds:
    """Shuffled k-fold with matbench's seed, one material's rows kept in one test fold."""
    if k < 2 or k > len(ds):
        raise BulkmodError(f"--folds {k}: need 2 <= K <= {len(ds)} rows")
    splitter = KFold(n_splits=k, shuffle=True, random_state=MATBENCH_SEED)
    return Folds.of(ds, keep_together(list(splitter.split(np.arange(len(ds)))), material_groups(ds)))


def keep_together(folds: Rows, groups: np.ndarray) -> Rows:
    """Move every row into the test fold of the first row of its group.

    One material under several ids would otherwise sit in train and test at once. A dataset without repeats keeps
    its folds exactly.
    """
    fold_of = np.empty(len(groups), dtype=int)
    for f, (_, test) in enumerate(folds):
        fold_of[test] = f
    moved = fold_of[groups]
    if np.array_equal(moved, fold_of):
        return folds
    rows = np.arange(len(groups))
    return [(rows[moved != f], rows[moved == f]) for f in range(len(folds))]


def formula_grouped(ds: Dataset, k: int = 5) -> Folds:
    """No reduced formula appears in both train and test (polymorphs stay together)."""
    return Folds.of(ds, _group_folds(ds, k, ds.reduced_formulas, "formula-grouped", "formulas"))


def chemsys_grouped(ds: Dataset, k: int = 5) -> Folds:
    """No chemical system (the sorted element set, e.g. Mg-O) appears in both train and test.

    Harder than formula-grouped: MgO2 goes with MgO, so a test material has no other stoichiometry of its own
    elements in training. Other systems sharing elements (Mg-O-Si beside Mg-O) can still be on both sides.
    """
    return Folds.of(ds, _group_folds(ds, k, ds.chemical_systems, "chemsys-grouped", "chemical systems"))


def _group_folds(ds: Dataset, k: int, groups: list[str], split: str, what: str) -> Rows:
    if len(set(groups)) < k:
        raise BulkmodError(f"{split} split: only {len(set(groups))} distinct {what} for {k} folds")
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=MATBENCH_SEED)
    return list(splitter.split(np.arange(len(ds)), groups=groups))


def matbench_official(ds: Dataset, k: int = 5) -> Folds:
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
    return Folds.of(ds, out)


def ood_elastic2015(ds: Dataset, k: int = 5) -> Folds:
    """Test on the elastic-2015 crystals whose mp_id is not in mp-binary-2025 (ternary and richer, mostly).

    Trained on all of mp-binary-2025, or, given ``mp-kvrh-all``, on every material of the join whose reduced
    formula is not among the test crystals' (the join holds the test crystals themselves and their polymorphs).
    One fold; ``data`` is the training rows followed by the test crystals. The notes count the test crystals whose
    formula training still holds (a polymorph) and the training rows the formula rule removed.
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
    seen = set(train.reduced_formulas)
    notes = {
        "n_test_formula_in_train": sum(f in seen for f in test.reduced_formulas),
        "n_train_removed_by_formula": len(ds) - len(train),
    }
    rows = [(np.arange(len(train)), np.arange(len(train), len(combined)))]
    return Folds.of(combined, rows, train_name=train.name, test_name=OOD_TEST_NAME, notes=notes)


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


SPLITS: dict[str, Callable[[Dataset, int], Folds]] = {
    "kfold": kfold,
    "matbench-official": matbench_official,
    "formula-grouped": formula_grouped,
    "chemsys-grouped": chemsys_grouped,
    "ood-elastic2015": ood_elastic2015,
}


def make_split(name: str, ds: Dataset, k: int = 5) -> Folds:
    """The folds of the split called ``name``; an unknown name is refused with the known ones listed."""
    if name not in SPLITS:
        raise BulkmodError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
    return SPLITS[name](ds, k)
