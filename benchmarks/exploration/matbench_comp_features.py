"""Choose the composition feature set for matbench_log_kvrh WITHOUT looking at any test fold.

    python benchmarks/exploration/matbench_comp_features.py

Candidates are compared on an inner 80/20 split of the *training part* of official fold 0; the winner
is then run on the five official folds by ``benchmarks/descriptor_models.py``. Writes
``benchmarks/results/matbench_comp_features/matbench_comp_feature_selection.json``.
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

CANDIDATES = {
    "magpie+stoich+spacegroup": ("magpie", "stoich", "spacegroup"),
    "+extra": ("magpie", "stoich", "extra", "spacegroup"),
    "+fractions": ("magpie", "stoich", "fractions", "spacegroup"),
    "+extra+fractions": ("magpie", "stoich", "extra", "fractions", "spacegroup"),
}
OUT = (
    Path(__file__).resolve().parents[1] / "results" / "matbench_comp_features" / "matbench_comp_feature_selection.json"
)


def main() -> None:
    train = make_split("matbench-official", load_dataset("matbench-log-kvrh-comp"))[0].train
    inner_tr, inner_val = train_test_split(np.arange(len(train)), test_size=0.2, random_state=0)
    a, b = train.subset(inner_tr), train.subset(inner_val)
    rows = []
    for name, groups in CANDIDATES.items():
        t = time.perf_counter()
        model = build_model("lgbm", features=FeatureConfig(groups).as_dict()).fit(a, a.y_log10)
        mae = float(np.mean(np.abs(model.predict(b).mean_log10 - b.y_log10)))
        rows.append({"features": name, "groups": list(groups), "inner_val_mae_log10": mae,
                     "fit_s": round(time.perf_counter() - t, 1)})  # fmt: skip
        print(rows[-1], flush=True)
    OUT.write_text(json.dumps({"purpose": __doc__.strip().splitlines()[0], "rows": rows, "command": command_line(),
                               "commit": git_commit(), "machine": machine(), "n_inner_train": len(a),
                               "n_inner_val": len(b)}, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
