"""Seconds per crystal for `bulkmod predict` with the shipped default model (the default-model rule: <= 1 s).

    python benchmarks/predict_speed.py [--n 200]

Cold = empty feature cache (every crystal featurised), warm = cached features; model loading is timed
separately. Writes benchmarks/results/predict_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    os.environ["BULKMOD_CACHE"] = tempfile.mkdtemp(prefix="bulkmod-speed-")
    from bulkmod.data import load_dataset
    from bulkmod.evaluation.benchmark import limit_rows
    from bulkmod.evaluation.results import command_line, git_commit, machine
    from bulkmod.models.pretrained import DEFAULT_MODEL, load_model
    from bulkmod.predict import predict_files

    ds = limit_rows(load_dataset("elastic-2015"), args.n)  # crystals the default model was not trained on
    folder = Path(tempfile.mkdtemp(prefix="bulkmod-speed-cifs-"))
    paths = []
    for i, s in zip(ds.ids, ds.structures, strict=True):
        paths.append(folder / f"{i}.cif")
        s.to(filename=str(paths[-1]))
    t = time.perf_counter()
    model = load_model(None)
    t_load = time.perf_counter() - t
    timings = {}
    for label in ("cold", "warm"):
        t = time.perf_counter()
        df = predict_files(paths, model)
        timings[label] = (time.perf_counter() - t) / len(paths)
    res = {
        "model": DEFAULT_MODEL, "n_crystals": len(paths), "n_predicted": int(df["error"].eq("").sum()),
        "load_s": round(t_load, 3), "s_per_crystal_cold": round(timings["cold"], 4),
        "s_per_crystal_warm": round(timings["warm"], 4), "includes": "CIF parsing, validation, features, prediction",
        "command": command_line(), "commit": git_commit(), "machine": machine(),
    }  # fmt: skip
    (RESULTS / "predict_speed.json").write_text(json.dumps(res, indent=2) + "\n")
    (RESULTS / "predict_speed.md").write_text(
        "# Prediction speed, default model\n\n| n | load (s) | s/crystal cold | s/crystal warm |\n|---|---|---|---|\n"
        f"| {len(paths)} | {t_load:.2f} | {timings['cold']:.4f} | {timings['warm']:.4f} |\n\n"
        f"`{res['command']}` at {res['commit']} on {res['machine']}.\n"
    )
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
