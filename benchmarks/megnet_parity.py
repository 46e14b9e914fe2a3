# ruff: noqa: E402  (the thread environment must be set before numpy and torch are imported)
"""Parity of bulkmod's torch port of the pretrained MEGNet bulk-modulus models with the original runtime.

``shared/data/megnet-pretrained/reference_predictions.csv`` holds what megnet 1.3.2 (TensorFlow) predicted for
rows of ``mp-binary-2025`` and ``elastic-2015`` with both published versions; rows it refused are empty. This
script predicts every row with :class:`bulkmod.models.gnn.megnet_port.MEGNetPretrained` (structures from bulkmod's
loaders, matched by dataset and id) and reports per version the largest and median |Δ log10 K| over the rows the
original predicted, how many exceed the tolerance, whether the port refuses exactly the rows the original refused
(and with what message), and which predicted crystals hold an atom without a bond.

    .venv/bin/python benchmarks/megnet_parity.py            # -> benchmarks/results/megnet_parity/
    .venv/bin/python benchmarks/megnet_parity.py --out /tmp/parity
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bulkmod.data import load_dataset
from bulkmod.io import REPO_ROOT, atomic_path, shared_data_dir, write_json_atomic, write_text_atomic
from bulkmod.models.gnn.megnet_port import SHARED_FOLDER, VERSIONS, MEGNetPretrained
from bulkmod.provenance import command_line, git_commit, load_average, machine

TOLERANCE = 1e-3  # log10 K: the port's target against the original runtime, row by row
WORST_SHOWN = 5


def reference_rows() -> pd.DataFrame:
    return pd.read_csv(shared_data_dir() / SHARED_FOLDER / "reference_predictions.csv", dtype={"id": str})


def predict_reference(ref: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per reference row: the port's prediction (NaN + its error where it refuses) for each version."""
    out = ref.copy()
    timing: dict[str, float] = {}
    for version in VERSIONS:
        out[f"port_log10_{version}"], out[f"port_error_{version}"] = np.nan, ""
        out[f"port_atoms_without_bond_{version}"] = 0
    for dataset, rows in ref.groupby("dataset", sort=False):
        ds = load_dataset(str(dataset))
        position = {str(i): k for k, i in enumerate(ds.ids)}
        missing = sorted(set(rows["id"]) - set(position))
        if missing:
            raise SystemExit(f"{dataset}: {len(missing)} reference ids are not in bulkmod's loader, e.g. {missing[0]}")
        sub = ds.subset([position[i] for i in rows["id"]])
        for version in VERSIONS:
            t0 = time.perf_counter()
            pred = MEGNetPretrained(version=version).predict(sub)
            timing[f"{dataset}/{version}"] = round(time.perf_counter() - t0, 2)
            out.loc[rows.index, f"port_log10_{version}"] = pred.mean_log10
            out.loc[rows.index, f"port_atoms_without_bond_{version}"] = pred.extra["atoms_without_bond"]
            for j, why in pred.errors.items():
                out.loc[rows.index[j], f"port_error_{version}"] = why
    return out, timing


def summarise(out: pd.DataFrame, version: str) -> dict[str, Any]:
    ref, port = out[f"pred_log10_{version}"].to_numpy(float), out[f"port_log10_{version}"].to_numpy(float)
    refused_by_original = ~np.isfinite(ref)
    refused_by_port = ~np.isfinite(port)
    both = ~refused_by_original & ~refused_by_port
    delta = np.abs(port - ref)[both]
    order = np.argsort(-np.where(both, np.abs(port - ref), -1.0))[:WORST_SHOWN]
    return {
        "n_rows": len(out),
        "n_predicted_by_original": int((~refused_by_original).sum()),
        "n_compared": int(both.sum()),
        "max_abs_delta_log10": float(delta.max()) if delta.size else None,
        "median_abs_delta_log10": float(np.median(delta)) if delta.size else None,
        "n_over_tolerance": int((delta > TOLERANCE).sum()),
        "port_refused_rows_the_original_predicted": out.loc[refused_by_port & ~refused_by_original, "id"].tolist(),
        "port_predicted_rows_the_original_refused": out.loc[~refused_by_port & refused_by_original, "id"].tolist(),
        "refusals": dict(
            zip(out.loc[refused_by_original, "id"], out.loc[refused_by_original, f"port_error_{version}"], strict=True)
        ),
        "predicted_with_atoms_without_bond": out.loc[out[f"port_atoms_without_bond_{version}"] > 0, "id"].tolist(),
        "worst": out.iloc[order][["dataset", "id", "formula", f"pred_log10_{version}", f"port_log10_{version}"]]
        .rename(columns={f"pred_log10_{version}": "original", f"port_log10_{version}": "port"})
        .to_dict("records"),
    }


def write_markdown(res: dict[str, Any], path: Path) -> None:
    lines = [
        "# MEGNet pretrained: torch port vs the original runtime",
        "",
        f"`{res['command']}` at commit `{res['commit']}` on {res['machine']} (load average {res['load_average']}).",
        "",
        f"Reference: `{res['reference']}`, the outputs of megnet 1.3.2 (TensorFlow) for {res['n_rows']} rows; "
        f"target |Δ log10 K| ≤ {res['tolerance']:g} on every row the original predicted, and a clear error on "
        "every row it refused.",
        "",
        "| version | rows compared | max abs Δ log10 | median abs Δ log10 | rows over tolerance | refusals match |",
        "|---|---|---|---|---|---|",
    ]
    for version, s in res["versions"].items():
        match = not s["port_refused_rows_the_original_predicted"] and not s["port_predicted_rows_the_original_refused"]
        lines.append(
            f"| {version} | {s['n_compared']} of {s['n_predicted_by_original']} | {s['max_abs_delta_log10']:.2e} | "
            f"{s['median_abs_delta_log10']:.2e} | {s['n_over_tolerance']} | {'yes' if match else 'no'} |"
        )
    first = next(iter(res["versions"].values()))
    lines += ["", "Rows the original refused, and the port's error (both versions give the same one):", ""]
    lines += [f"- `{i}`: {why}" for i, why in first["refusals"].items()]
    lines += [
        "",
        "Crystals where some atoms have no neighbour within the cut-off but others do: the original only logged a "
        "warning and predicted them, and so does the port (they are among the rows compared above): "
        + (", ".join(f"`{i}`" for i in first["predicted_with_atoms_without_bond"]) or "none")
        + ".",
        "",
        f"Per-row values: `{res['predictions']}`.",
        "",
    ]
    write_text_atomic(path, "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "megnet_parity")
    args = p.parse_args(argv)
    load = {"start": load_average()}
    t0 = time.perf_counter()
    ref = reference_rows()
    out, timing = predict_reference(ref)
    load["end"] = load_average()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "megnet_parity.predictions.csv"
    with atomic_path(csv_path) as tmp:
        out.to_csv(tmp, index=False, float_format="%.7f")
    res: dict[str, Any] = {
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "load_average": load,
        "reference": f"{SHARED_FOLDER}/reference_predictions.csv",
        "n_rows": len(ref),
        "tolerance": TOLERANCE,
        "versions": {version: summarise(out, version) for version in VERSIONS},
        "predict_s": timing,
        "wall_s": round(time.perf_counter() - t0, 1),
        "predictions": csv_path.name,
    }
    write_json_atomic(args.out / "megnet_parity.json", res)
    write_markdown(res, args.out / "megnet_parity.md")
    for version, s in res["versions"].items():
        print(f"{version}: max |d| {s['max_abs_delta_log10']:.2e}, median {s['median_abs_delta_log10']:.2e}, "
              f"{s['n_over_tolerance']} of {s['n_compared']} rows over {TOLERANCE:g}", file=sys.stderr)  # fmt: skip
    ok = all(
        s["n_over_tolerance"] == 0
        and not s["port_refused_rows_the_original_predicted"]
        and not s["port_predicted_rows_the_original_refused"]
        for s in res["versions"].values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
