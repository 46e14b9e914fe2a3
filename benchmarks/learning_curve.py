"""Learning curve on mp-binary-2025: test MAE vs training-set size for the descriptor LightGBM and graph networks.

Where might graph networks overtake the descriptors? Every run is scored on the same fixed test set, fold 0 of
the standard 5-fold ``kfold`` split (791 crystals). Training sets are nested subsets of fold 0's training part
(3,162 crystals): one seeded permutation of it, and the first n crystals for each size n, so a larger set
always contains every smaller one; ``all`` is the whole training part, i.e. exactly the training set of fold 0
in the 5-fold benchmarks. Early stopping, boosting rounds and standardisation are fitted on the training
subset only (graph models hold out 10 % of it for early stopping; LightGBM chooses its rounds on 5 inner folds
of it, as the shipped model does). Graph models train for at most ``--epochs`` epochs (30 by default: short
runs, said in the results).

    python benchmarks/learning_curve.py                                  # 250,500,1000,2000,all x lgbm,cgcnn,hybrid
    python benchmarks/learning_curve.py --sizes 250,500 --models lgbm    # a slice

Each (model, size) is one results file in the ``bulkmod-results/1`` schema with its predictions CSV, in
``benchmarks/results/learning_curve/``; an existing one made with the same configuration is skipped, so a
killed run resumes. ``learning_curve.{json,md,png}`` beside them collect every run file of the setting that exists. The
table reports what was measured; the log-log fit (MAE = a n^b over the measured sizes) is a summary of those
points, not an extrapolation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import wilcoxon

from bulkmod.data import load_dataset
from bulkmod.data.splits import make_split
from bulkmod.evaluation.benchmark import run_fold
from bulkmod.evaluation.results import build_results, write_results
from bulkmod.io import write_json_atomic, write_text_atomic
from bulkmod.models import MODELS
from bulkmod.provenance import command_line, git_commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "learning_curve"
DATASET = "mp-binary-2025"
TEST_FOLD = 0
LOG_STD = {"space": "log10", "standardize": True}
GRAPH_MODELS = ("cgcnn", "cgcnn-deep", "schnet", "megnet", "hybrid")
# lgbm as in the 5-fold benchmark (mp-binary-2025_lgbm_kfold.json); graph models as rows 5-9 of gnn_ablation.py
# (AdamW lr 1e-3, standardised log10 target, Huber loss), so the hybrid at "all" is row 8's fold 0
CONFIGS: dict[str, dict[str, Any]] = {
    "lgbm": {"inner_folds": 5},
    **{m: {"transform": LOG_STD, "loss": "huber"} for m in GRAPH_MODELS},
}


def model_config(model: str, epochs: int, seed: int) -> dict[str, Any]:
    cfg = dict(CONFIGS[model]) | {"seed": seed}
    return cfg | {"epochs": epochs} if model in GRAPH_MODELS else cfg


def nested_subsets(train_idx: np.ndarray, sizes: list[int], seed: int) -> dict[int, np.ndarray]:
    """size -> sorted indices: the first ``size`` of one seeded permutation, so the subsets are nested."""
    perm = np.random.default_rng(seed).permutation(train_idx)
    return {n: np.sort(perm[:n]) for n in sizes}


def run_file(out_dir: Path, model: str, n: int, n_all: int, epochs: int, seed: int) -> Path:
    size = "all" if n == n_all else str(n)
    ep = f"_ep{epochs}" if model in GRAPH_MODELS else ""
    return out_dir / f"lc_{model}_n{size}{ep}_seed{seed}.json"


def run_one(
    model: str, cfg: dict[str, Any], ds: Any, sub: np.ndarray, test: np.ndarray, out: Path, info: dict[str, Any]
) -> dict[str, Any]:
    t0 = time.perf_counter()
    frame, meta = run_fold((model, cfg, ds.subset(sub), ds.subset(test), TEST_FOLD))
    res = build_results(
        frame,
        dataset=DATASET,
        train_dataset=DATASET,
        split=f"kfold-fold{TEST_FOLD}",
        model=model,
        family=MODELS[model].family,
        fold_meta=[meta],
        wall_s=time.perf_counter() - t0,
        extra={"limit": None, "folds": 1, "model_config": cfg, "learning_curve": info | meta},
    )
    write_results(res, frame, out)
    return res


def loglog_fit(n: np.ndarray, mae: np.ndarray) -> dict[str, float] | None:
    """Least squares log10 MAE = log10 a + b log10 n over the measured points (None below 3 points)."""
    if len(n) < 3:
        return None
    b, log_a = np.polyfit(np.log10(n), np.log10(mae), 1)
    resid = np.log10(mae) - (log_a + b * np.log10(n))
    return {
        "slope_b": round(float(b), 3),
        "a": round(float(10**log_a), 4),
        "rms_resid_log10": round(float(np.sqrt(np.mean(resid**2))), 4),
    }


def paired_p(out_dir: Path, a: dict[str, Any], b: dict[str, Any]) -> float:
    """Paired Wilcoxon p-value of |error| between two runs on the same test crystals."""
    pa, pb = (pd.read_csv(out_dir / r["file"].replace(".json", ".predictions.csv")) for r in (a, b))
    m = pa.merge(pb, on="id", suffixes=("_a", "_b"))
    ea = (m["y_pred_log10_a"] - m["y_true_log10_a"]).abs()
    eb = (m["y_pred_log10_b"] - m["y_true_log10_b"]).abs()
    return float(wilcoxon(ea, eb).pvalue)


def collect(out_dir: Path, epochs: int, seed: int) -> list[dict[str, Any]]:
    """Every run file of this setting (any size, any model with a configuration here), by model then size."""
    rows = []
    for path in out_dir.glob(f"lc_*_seed{seed}.json"):
        r = json.loads(path.read_text())
        model, info = r["model"], r["learning_curve"]
        if model not in CONFIGS or r.get("model_config") != model_config(model, epochs, seed):
            continue  # another epoch budget, or a configuration that has since changed
        f0 = r["per_fold"][0]
        rows.append(
            {
                "model": model,
                "n_train": info["n_train"],
                "file": path.name,
                "mae_log10": round(r["mae_log10"], 5),
                "rmse_log10": round(r["rmse_log10"], 5),
                "r2_log10": round(r["r2_log10"], 4),
                "mae_gpa": round(r["mae_gpa"], 2),
                "r2_gpa": round(r["r2_gpa"], 4),
                "spread_ratio": round(r["spread_ratio"], 3),
                "fit_s": f0.get("fit_s"),
                "per_k_bin_mae_log10": {b["k_bin_gpa"]: b["mae_log10"] for b in r.get("per_k_bin", [])},
                "commit": r["commit"],
                "command": r["command"],
            }
        )
    order = list(CONFIGS)
    return sorted(rows, key=lambda r: (order.index(r["model"]), r["n_train"]))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for model in dict.fromkeys(r["model"] for r in rows):
        pts = [(r["n_train"], r["mae_log10"]) for r in rows if r["model"] == model]
        n, mae = np.array(pts).T
        ax.plot(n, mae, "o-", label=model)
    ax.set_xscale("log")
    ax.set_yscale("log")
    sizes = sorted({r["n_train"] for r in rows})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2f"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.2f"))
    ax.set_xlabel("training crystals (nested subsets of fold 0's training part)")
    ax.set_ylabel("test MAE, log10 GPa (fold 0, 791 crystals)")
    ax.set_title("mp-binary-2025 learning curve (measured points only)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(
    rows: list[dict[str, Any]], fits: dict[str, Any], pvals: dict[str, Any], setting: str, notes: list[str]
) -> str:
    models = list(dict.fromkeys(r["model"] for r in rows))
    sizes = sorted({r["n_train"] for r in rows})
    by = {(r["model"], r["n_train"]): r for r in rows}
    head = "| training crystals | " + " | ".join(f"{m} MAE log10 (GPa)" for m in models) + " | best |"
    lines = [head, "|---:|" + "---:|" * len(models) + "---|"]
    for n in sizes:
        cells, best = [], None
        for m in models:
            r = by.get((m, n))
            cells.append(f"{r['mae_log10']:.4f} ({r['mae_gpa']:.1f})" if r else "–")
            if r and (best is None or r["mae_log10"] < best[1]):
                best = (m, r["mae_log10"])
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {best[0] if best else '–'} |")
    detail = [
        "| model | n | MAE log10 | RMSE log10 | R² log10 | MAE GPa | R² GPa | spread | fit s | p vs lgbm |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p = pvals.get(f"{r['model']}@{r['n_train']}")
        detail.append(
            f"| {r['model']} | {r['n_train']} | {r['mae_log10']:.4f} | {r['rmse_log10']:.4f} | {r['r2_log10']:.3f} | "
            f"{r['mae_gpa']:.1f} | {r['r2_gpa']:.3f} | {r['spread_ratio']:.2f} | {r['fit_s']:.0f} | "
            + (f"{p:.2g}" if p is not None else "–")
            + " |"
        )
    fit_lines = ["| model | slope b | a | sizes fitted | rms residual (log10 MAE) |", "|---|---:|---:|---|---:|"]
    for m, f in fits.items():
        if f:
            fit_lines.append(f"| {m} | {f['slope_b']:.3f} | {f['a']:.4f} | {f['sizes']} | {f['rms_resid_log10']:.4f} |")
    return (
        f"# Learning curve on {DATASET}: MAE vs training-set size\n\n{setting}\n\n"
        "Test MAE on fold 0 (log10 GPa; MAE in GPa in brackets), measured points only:\n\n"
        + "\n".join(lines)
        + "\n\n![learning curve](learning_curve.png)\n\nEvery run ("
        "p: paired Wilcoxon test of |error| against lgbm at the same size, on the same 791 test crystals):\n\n"
        + "\n".join(detail)
        + "\n\nLog-log least-squares fit MAE = a n^b per model over the measured sizes (a description of the points "
        "above, not a prediction beyond them):\n\n" + "\n".join(fit_lines) + "\n\n" + "\n\n".join(notes) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", default="250,500,1000,2000,all", help="training-set sizes; 'all' = fold 0's training part"
    )
    parser.add_argument("--models", default="lgbm,cgcnn,hybrid", help="comma-separated registry models")
    parser.add_argument(
        "--epochs", type=int, default=30, help="maximum epochs for graph models (early stopping may end sooner)"
    )
    parser.add_argument("--seed", type=int, default=0, help="subset permutation and model seed")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--force", action="store_true", help="re-run (model, size) pairs whose results file exists")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",")
    unknown = [m for m in models if m not in CONFIGS]
    if unknown:
        parser.error(f"no learning-curve configuration for {unknown}; known: {', '.join(CONFIGS)}")
    RESULTS.mkdir(parents=True, exist_ok=True)

    folds = make_split("kfold", load_dataset(DATASET), 5)
    ds, train_idx, test_idx = folds.data, folds[TEST_FOLD].train_rows, folds[TEST_FOLD].test_rows
    n_all = len(train_idx)
    n_by_size = {s: (n_all if s == "all" else int(s)) for s in args.sizes.split(",")}
    if any(not 10 <= n <= n_all for n in n_by_size.values()):
        parser.error(f"sizes must lie in 10..{n_all} (fold {TEST_FOLD}'s training part)")
    subsets = nested_subsets(train_idx, sorted(set(n_by_size.values())), args.seed)
    t0 = time.perf_counter()
    for n in sorted(subsets):  # all models at one size before the next size: a cut-short run has whole sizes
        for model in models:
            cfg = model_config(model, args.epochs, args.seed)
            out = run_file(RESULTS, model, n, n_all, args.epochs, args.seed)
            if out.exists() and not args.force and json.loads(out.read_text()).get("model_config") == cfg:
                continue
            print(f"== {model} on {n} training crystals", file=sys.stderr, flush=True)
            info = {
                "n_train": n,
                "n_train_all": n_all,
                "test_fold": TEST_FOLD,
                "n_test": len(test_idx),
                "subset_seed": args.seed,
                "nested": True,
            }
            res = run_one(model, cfg, ds, subsets[n], test_idx, out, info)
            print(f"   MAE log10 {res['mae_log10']:.4f}", file=sys.stderr, flush=True)

    rows = collect(RESULTS, args.epochs, args.seed)
    fits: dict[str, Any] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        pts = [(r["n_train"], r["mae_log10"]) for r in rows if r["model"] == model]
        f = loglog_fit(*np.array(pts, float).T)
        fits[model] = f and f | {"sizes": [int(n) for n, _ in pts]}
    ref = {r["n_train"]: r for r in rows if r["model"] == "lgbm"}
    pvals = {
        f"{r['model']}@{r['n_train']}": paired_p(RESULTS, r, ref[r["n_train"]])
        for r in rows
        if r["model"] != "lgbm" and r["n_train"] in ref
    }
    setting = (
        f"Made by `{command_line()}` at commit `{git_commit()}` on {machine()} ({time.perf_counter() - t0:.0f} s this "
        f"invocation; each run's own command and commit are in its JSON). Test set: fold {TEST_FOLD} of the 5-fold "
        f"`kfold` split ({len(test_idx)} crystals). Training sets: nested seeded subsets (seed {args.seed}) of fold "
        f"{TEST_FOLD}'s training part ({n_all} crystals = 'all'). Graph models: at most **{args.epochs} epochs**, "
        "AdamW lr 1e-3, standardised log10 target, Huber loss, early stopping on 10 % of the training subset; "
        "lgbm: boosting rounds chosen on 5 inner folds of the training subset. Torch threads "
        f"{args.threads}; the machine was shared with other jobs, so fit times are indicative only."
    )
    made_by: dict[str, list[str]] = {}
    for r in rows:
        made_by.setdefault(f"`{r['command']}` at commit `{r['commit']}`", []).append(f"{r['model']}@{r['n_train']}")
    setting += " Runs made by: " + "; ".join(f"{c} ({', '.join(v)})" for c, v in made_by.items()) + "."
    notes = [
        "Reading: the curves show where each model stands at the sizes measured here. A graph model that is still "
        "behind lgbm at 'all' has not crossed over on this dataset; its slope says how fast it was closing the gap "
        f"over the measured range, nothing more. With at most {args.epochs} epochs the graph models may be "
        f"under-trained, more so on small sets where {args.epochs} epochs are few optimiser steps."
    ]
    ratios = []
    for model in dict.fromkeys(r["model"] for r in rows if r["model"] != "lgbm"):
        pts = [(r["n_train"], r["mae_log10"] / ref[r["n_train"]]["mae_log10"]) for r in rows
               if r["model"] == model and r["n_train"] in ref]  # fmt: skip
        if pts:
            ratios.append(f"{model} " + ", ".join(f"{q:.2f} at {n}" for n, q in pts))
    if ratios:
        notes.append("MAE relative to lgbm at the same size (measured): " + "; ".join(ratios) + ".")
    for model, ref_file in (
        ("lgbm", RESULTS.parent / "descriptor_models" / "mp-binary-2025_lgbm_kfold.json"),
        ("hybrid", RESULTS.parent / "gnn_ablation" / f"gnn_8_limitall_ep{args.epochs}_k5.json"),
    ):
        mine = next((r for r in rows if r["model"] == model and r["n_train"] == n_all), None)
        if ref_file.exists() and mine:
            ref0 = json.loads(ref_file.read_text())["per_fold"][TEST_FOLD]["mae_log10"]
            notes.append(
                f"Check: {model} on 'all' has the training set and configuration of fold {TEST_FOLD} in "
                f"`{ref_file.name}`: MAE {mine['mae_log10']:.4f} here, {ref0:.4f} there."
            )
    summary = {
        "setting": setting,
        "epochs": args.epochs,
        "test_fold": TEST_FOLD,
        "n_test": len(test_idx),
        "n_train_all": n_all,
        "runs": rows,
        "loglog_fits": fits,
        "paired_p_vs_lgbm": pvals,
    }
    write_json_atomic(RESULTS / "learning_curve.json", summary)
    if rows:
        plot(rows, RESULTS / "learning_curve.png")
    write_text_atomic(RESULTS / "learning_curve.md", markdown(rows, fits, pvals, setting, notes))
    print((RESULTS / "learning_curve.md").read_text())


if __name__ == "__main__":
    main()
