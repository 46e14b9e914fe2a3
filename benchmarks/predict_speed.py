"""Seconds per crystal for `bulkmod predict` with the shipped models (the default-model rule: <= 1 s).

    python benchmarks/predict_speed.py [--n 200]

The default model (descriptors + its potential's E–V fit) and the `fast` one (descriptors only) run side by
side on the same crystals, each from an empty cache. Cold = empty cache (every crystal featurised and, for the
default, scanned by its potential), warm = everything cached. Loading is timed separately and includes one prediction
of an example crystal outside the set, so the potential's weights and lazy imports are paid before the cold
clock starts (issue 18 times the default "warm model, cold cache"). Writes
benchmarks/results/predict_speed/predict_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "predict_speed"
WARM_UP = Path(__file__).resolve().parents[1] / "examples" / "Si.cif"
MODELS = ("default", "fast")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    from bulkmod.data import load_dataset
    from bulkmod.evaluation.benchmark import limit_rows
    from bulkmod.models.pretrained import ALIASES, load_model
    from bulkmod.prediction import predict_files
    from bulkmod.provenance import command_line, git_commit, load_average, machine

    ds = limit_rows(load_dataset("elastic-2015"), args.n)  # real crystals; an empty cache makes every one cold
    folder = Path(tempfile.mkdtemp(prefix="bulkmod-speed-cifs-"))
    paths = []
    for i, s in zip(ds.ids, ds.structures, strict=True):
        paths.append(folder / f"{i}.cif")
        s.to(filename=str(paths[-1]))
    rows = []
    for alias in MODELS:
        os.environ["BULKMOD_CACHE"] = tempfile.mkdtemp(prefix=f"bulkmod-speed-{alias}-")
        t = time.perf_counter()
        model = load_model(alias)
        predict_files([WARM_UP], model)
        t_load = time.perf_counter() - t
        timings = {}
        for label in ("cold", "warm"):
            t = time.perf_counter()
            df = predict_files(paths, model)
            timings[label] = (time.perf_counter() - t) / len(paths)
        rows.append({"model": ALIASES[alias], "alias": alias, "n_predicted": int(df["error"].eq("").sum()),
                     "load_s": round(t_load, 3), "s_per_crystal_cold": round(timings["cold"], 4),
                     "s_per_crystal_warm": round(timings["warm"], 4)})  # fmt: skip
    res = {
        "n_crystals": len(paths), "rows": rows, "includes": "CIF parsing, validation, features, prediction",
        "load_includes": "one warm-up prediction of an example crystal",
        "command": command_line(), "commit": git_commit(), "machine": machine(),
        "load_avg_end": load_average(),
    }  # fmt: skip
    (RESULTS / "predict_speed.json").write_text(json.dumps(res, indent=2) + "\n")
    table = "".join(
        f"| {r['alias']} ({r['model']}) | {len(paths)} | {r['load_s']:.2f} | {r['s_per_crystal_cold']:.4f} | "
        f"{r['s_per_crystal_warm']:.4f} |\n"
        for r in rows
    )
    (RESULTS / "predict_speed.md").write_text(
        "# Prediction speed of the shipped models\n\n"
        "| model | n | load + warm-up (s) | s/crystal cold | s/crystal warm |\n"
        f"|---|---|---|---|---|\n{table}\n`{res['command']}` at {res['commit']} on {res['machine']}; "
        f"load average afterwards {res['load_avg_end']} (2 cores).\n"
    )
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
