"""Why the GP reverted to its prior mean on ood-elastic2015: how far its descriptors lie outside the binary range.

    python benchmarks/exploration/gp_domain.py      # investigation, not a benchmark

Standardises the default descriptors of the ood test crystals with the training (mp-binary-2025) mean and
std, as ``gpr`` does, and reports per descriptor how far (in training sd) they reach beyond the training
range and the share of test rows beyond it. Writes ``benchmarks/results/gp_domain/gp_domain_exploration.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bulkmod.data import load_dataset
from bulkmod.data.splits import make_split
from bulkmod.features import FeatureConfig, featurize
from bulkmod.provenance import command_line, git_commit, machine

OUT = Path(__file__).resolve().parents[1] / "results" / "gp_domain" / "gp_domain_exploration.json"


def main() -> None:
    fold = make_split("ood-elastic2015", load_dataset("mp-binary-2025"), 5)[0]
    cfg = FeatureConfig.default_for(fold.train)
    X, Xt = featurize(fold.train, cfg)[0], featurize(fold.test, cfg)[0]
    mean, std = np.nanmean(X, 0), np.nanstd(X, 0)
    std = np.where(std > 1e-12, std, 1.0)
    Z, Zt = (X - mean) / std, (Xt - mean) / std
    beyond = np.maximum(Zt - np.nanmax(Z, 0), np.nanmin(Z, 0) - Zt)  # > 0: outside the training range
    order = np.argsort(-np.nanmax(beyond, 0))[:12]
    names = cfg.names()
    out = {
        "command": command_line(), "commit": git_commit(), "machine": machine(),
        "n_train": len(fold.train), "n_test": len(fold.test),
        "share_rows_beyond_range_by_1sd": round(float(np.mean(np.nanmax(beyond, 1) > 1)), 3),
        "descriptors": [{"name": names[j], "max_sd_beyond": round(float(np.nanmax(beyond[:, j])), 2),
                         "share_rows_beyond": round(float(np.mean(beyond[:, j] > 0)), 3)} for j in order],
    }  # fmt: skip
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
