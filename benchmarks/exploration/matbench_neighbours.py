"""Do neighbour-target (polymorph / nearest-composition) features help on matbench_log_kvrh? Training rows only.

    python benchmarks/exploration/matbench_neighbours.py

1. How often a test crystal's reduced formula (and formula + space group, and element set) occurs in the
   training part of each official fold: descriptive counts, no targets involved.
2. lgbm with and without ``neighbours`` (and with a Huber loss) on an inner 80/20 split of the
   *training part* of official fold 0 (the test folds are not touched), split by whether the
   inner-validation formula is in the inner training part. The five-fold numbers come from
   ``benchmarks/descriptor_models.py``.

Writes ``benchmarks/results/matbench_neighbours/matbench_neighbours_exploration.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from bulkmod.data import load_dataset
from bulkmod.data.splits import make_split
from bulkmod.features import FeatureConfig
from bulkmod.models import build_model
from bulkmod.provenance import command_line, git_commit, machine

BASE = ("magpie", "stoich", "spacegroup")
WIDE = ("magpie", "stoich", "fractions", "extra", "spacegroup")
WIDE_PARAMS = {"num_leaves": 63, "min_data_in_leaf": 5, "feature_fraction": 0.3, "learning_rate": 0.02}
HUBER = {"objective": "huber"}  # LightGBM's Huber; alpha in standardised-target units (1 = one std, ~0.37 log10)
VARIANTS = {
    "base": {"features": FeatureConfig(BASE).as_dict()},
    "base+neighbours": {"features": FeatureConfig(BASE).as_dict(), "neighbours": True},
    "wide": {"features": FeatureConfig(WIDE).as_dict(), "params": WIDE_PARAMS},
    "wide+neighbours": {"features": FeatureConfig(WIDE).as_dict(), "params": WIDE_PARAMS, "neighbours": True},
    **{
        f"base+huber{a}": {"features": FeatureConfig(BASE).as_dict(), "params": HUBER | {"alpha": a}}
        for a in (0.15, 0.3, 0.5)
    },
    "base+huber0.15+neighbours": {
        "features": FeatureConfig(BASE).as_dict(),
        "params": HUBER | {"alpha": 0.15},
        "neighbours": True,
    },
    "base+huber0.3+neighbours": {
        "features": FeatureConfig(BASE).as_dict(),
        "params": HUBER | {"alpha": 0.3},
        "neighbours": True,
    },
    **{
        f"wide+huber{a}{nb}": {
            "features": FeatureConfig(WIDE).as_dict(),
            "params": WIDE_PARAMS | HUBER | {"alpha": a},
            "neighbours": bool(nb),
        }
        for a, nb in ((0.3, ""), (0.3, "+neighbours"))
    },
}
OUT = Path(__file__).resolve().parents[1] / "results" / "matbench_neighbours" / "matbench_neighbours_exploration.json"


def overlap(train, test) -> dict:
    f_tr, f_te = set(train.reduced_formulas), test.reduced_formulas
    fs_tr = {(f, int(s)) for f, s in zip(train.reduced_formulas, train.spacegroup, strict=True)}
    c_tr = {c.chemical_system for c in train.compositions}
    return {
        "n_test": len(test),
        "formula_in_train": float(np.mean([f in f_tr for f in f_te])),
        "formula_and_spg_in_train": float(
            np.mean([(f, int(s)) in fs_tr for f, s in zip(f_te, test.spacegroup, strict=True)])
        ),
        "chemsys_in_train": float(np.mean([c.chemical_system in c_tr for c in test.compositions])),
    }


def main() -> None:
    folds = make_split("matbench-official", load_dataset("matbench-log-kvrh-comp"))
    overlaps = [overlap(fold.train, fold.test) | {"fold": k} for k, fold in enumerate(folds)]
    for row in overlaps:
        print(row, flush=True)
    train = folds[0].train
    inner_tr, inner_val = train_test_split(np.arange(len(train)), test_size=0.2, random_state=0)
    a, b = train.subset(inner_tr), train.subset(inner_val)
    seen = np.array([f in set(a.reduced_formulas) for f in b.reduced_formulas])
    rows = []
    for name, cfg in VARIANTS.items():
        t = time.perf_counter()
        err = np.abs(build_model("lgbm", **cfg).fit(a, a.y_log10).predict(b).mean_log10 - b.y_log10)
        rows.append({"variant": name, "config": cfg, "inner_val_mae_log10": float(err.mean()),
                     "mae_formula_seen": float(err[seen].mean()), "mae_formula_unseen": float(err[~seen].mean()),
                     "fit_s": round(time.perf_counter() - t, 1)})  # fmt: skip
        print(rows[-1], flush=True)
    OUT.write_text(json.dumps({"purpose": __doc__.strip().splitlines()[0], "overlap_official_folds": overlaps,
                               "inner_rows": rows, "n_inner_train": len(a), "n_inner_val": len(b),
                               "inner_val_formula_seen": float(seen.mean()), "command": command_line(),
                               "commit": git_commit(), "machine": machine()}, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
