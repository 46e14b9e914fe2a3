"""Wall time to featurise and train the default model on every row of mp-kvrh-all, from an empty cache.

    python benchmarks/train_all_cold.py [--threads 2]

One process, a fresh ``BULKMOD_CACHE``: the join of the four sources, the structure descriptors, the E-V scans
of every crystal with a structure by the default's potential (and its ion strain forces, where the default
reads them), then the fit of the shipped default's recipe
(``structure-routed``: a composition LightGBM on every row, a LightGBM on descriptors + E-V fit on the rows with
a structure, Huber 0.15, the stacked composition feature chosen on 5 inner folds; its settings are read from the
shipped default's manifest) and its training-domain statistics. What
``bulkmod train`` does, minus the cross-validation. Writes
``benchmarks/results/train_all_cold/train_cold.{json,md}`` with the command, commit, machine and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train_all_cold"
TARGET_S = 30 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="OMP/torch threads (the machine has 2 cores)")
    args = parser.parse_args()
    os.environ["BULKMOD_CACHE"] = tempfile.mkdtemp(prefix="bulkmod-cold-train-")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from bulkmod.data import load_dataset
    from bulkmod.features import FeatureConfig, featurize
    from bulkmod.models import build_model
    from bulkmod.models.base import MANIFEST
    from bulkmod.models.pretrained import DEFAULT_MODEL, PRETRAINED_DIR
    from bulkmod.physics.features import eos_features, ion_strain_features
    from bulkmod.provenance import command_line, git_commit, load_average, machine
    from bulkmod.uncertainty.domain import DescriptorDomain

    manifest = json.loads((PRETRAINED_DIR / DEFAULT_MODEL / MANIFEST).read_text())
    config = manifest["config"]
    potential = config["features"]["potential"]
    load_start = load_average()
    phases: dict[str, float] = {}
    t = time.perf_counter()
    ds = load_dataset("mp-kvrh-all")
    phases["join_s"] = time.perf_counter() - t
    structured = ds.subset(np.flatnonzero(ds.structure_mask))
    t = time.perf_counter()
    featurize(structured, FeatureConfig())
    phases["structure_features_s"] = time.perf_counter() - t
    t = time.perf_counter()
    eos_features(structured.structures, potential)
    phases[f"{potential}_scans_s"] = time.perf_counter() - t
    if "umlip-ions" in config["features"]["groups"]:
        t = time.perf_counter()
        ion_strain_features(structured.structures, potential)
        phases[f"{potential}_ion_strain_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = build_model(manifest["model"], **config).fit(ds, ds.y_log10)
    model.domain = DescriptorDomain.fit(ds)
    phases["fit_s"] = time.perf_counter() - t
    total = sum(phases.values())
    res = {
        "dataset": ds.name, "rows": len(ds), "rows_with_structure": len(structured), "model": DEFAULT_MODEL,
        "model_config": config, "threads": args.threads, **{k: round(v, 1) for k, v in phases.items()},
        "total_s": round(total, 1), "target_s": TARGET_S, "meets_target": total <= TARGET_S,
        "command": command_line(), "commit": git_commit(), "machine": machine(),
        "load_avg_start": load_start, "load_avg_end": load_average(),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_cold.json").write_text(json.dumps(res, indent=2) + "\n")
    rows = "".join(f"| {k.removesuffix('_s').replace('_', ' ')} | {v:.0f} |\n" for k, v in phases.items())
    (RESULTS / "train_cold.md").write_text(
        f"# Featurise and train the default on all of {ds.name}, cold cache\n\n"
        f"{len(ds)} rows, {len(structured)} with a structure; {args.threads} threads.\n\n"
        f"| phase | wall s |\n|---|---|\n{rows}| **total** | **{total:.0f}** (target {TARGET_S}) |\n\n"
        f"`{res['command']}` at {res['commit']} on {res['machine']}; load average {load_start} at the start, "
        f"{res['load_avg_end']} at the end (2 cores).\n"
    )
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
