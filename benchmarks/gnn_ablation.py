"""Keep CGCNN or switch? The graph-network ablation on mp-binary-2025 (same 5 folds as the descriptor models).

    python benchmarks/gnn_ablation.py                       # the full ablation (hours on CPU)
    python benchmarks/gnn_ablation.py --limit 1000 --epochs 30 --rows 1,2,3,4   # a CPU-feasible slice

Rows: 1 the original failure (cgcnn, raw GPa, MSE, no normalisation); 2 + log10 target; 3 + standardised;
4 + Huber loss; 5 cgcnn-deep; 6 schnet; 7 megnet; 8 hybrid; 9 cgcnn fine-tuned from the legacy checkpoint.
Each row is one results file ``benchmarks/results/gnn_<row>.json`` (existing ones are skipped, so a killed run
resumes row by row); ``gnn_ablation.json`` collects them and ``gnn_ablation.md`` tabulates them. With ``--limit``
or ``--epochs`` the file names carry the setting, so a reduced run never passes for the full one. Every row is
reproducible from the CLI, e.g. ``bulkmod benchmark --dataset mp-binary-2025 --model cgcnn --target raw --loss mse``.
Row 1 also trains one model on fold 0 and records what ``bulkmod diagnose --model`` says about it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bulkmod.data import load_dataset
from bulkmod.data.splits import make_split
from bulkmod.evaluation.benchmark import limit_rows, run_benchmark
from bulkmod.evaluation.diagnose import diagnose
from bulkmod.io import REPO_ROOT, cache_dir, shared_data_dir, write_json_atomic, write_text_atomic
from bulkmod.models import build_model

RESULTS = Path(__file__).resolve().parent / "results"
DATASET = "mp-binary-2025"
RAW = {"space": "gpa", "standardize": False}
LOG = {"space": "log10", "standardize": False}
LOG_STD = {"space": "log10", "standardize": True}
LEGACY = "cgcnn-pretrained/bulk-moduli.pth.tar"


def rows() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """row -> (model, what changed, constructor kwargs except epochs)."""
    legacy = str(shared_data_dir() / LEGACY)
    return {
        "1": ("cgcnn", "original failure: raw GPa, MSE, no normalisation", {"transform": RAW, "loss": "mse"}),
        "2": ("cgcnn", "+ log10 target", {"transform": LOG, "loss": "mse"}),
        "3": ("cgcnn", "+ standardised log10", {"transform": LOG_STD, "loss": "mse"}),
        "4": ("cgcnn", "+ Huber loss", {"transform": LOG_STD, "loss": "huber"}),
        "5": ("cgcnn-deep", "deep CGCNN: angles, attention, density", {"transform": LOG_STD, "loss": "huber"}),
        "6": ("schnet", "SchNet", {"transform": LOG_STD, "loss": "huber"}),
        "7": ("megnet", "MEGNet", {"transform": LOG_STD, "loss": "huber"}),
        "8": ("hybrid", "graph encoder + descriptors, end to end", {"transform": LOG_STD, "loss": "huber"}),
        "9": (
            "cgcnn",
            "fine-tuned from the legacy bulk-moduli checkpoint",
            {"transform": LOG_STD, "loss": "huber", "params": {"pretrained": legacy, "n_conv": 4, "h_fea_len": 32}},
        ),
    }  # fmt: skip


def diagnose_fold0(model: str, cfg: dict[str, Any], limit: int | None, folds: int) -> dict[str, Any]:
    """Train on fold 0's training part, save, and diagnose its fold-0 predictions with the saved model."""
    ds, splits = make_split("kfold", limit_rows(load_dataset(DATASET), limit), folds)
    tr, te = splits[0]
    est = build_model(model, **cfg).fit(ds.subset(tr), ds.y_log10[tr])
    directory = est.save(cache_dir("gnn-ablation") / f"row1-fold0-{limit}-{cfg.get('epochs')}")
    pred = est.predict(ds.subset(te)).mean_log10
    res = diagnose(10.0 ** ds.y_log10[te], 10.0**pred, model_dir=directory)
    return {"model_dir": str(directory), "verdict": res["verdict"], "model_causes": res["model_causes"]}


def run_row(row: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    model, label, cfg = rows()[row]
    cfg = cfg | {"epochs": args.epochs, "seed": 0}
    if not out.exists() or args.force:
        print(f"== row {row}: {model}: {label}", file=sys.stderr, flush=True)
        run_benchmark(DATASET, model, folds=args.folds, limit=args.limit, model_config=cfg, out=out)
    res = json.loads(out.read_text())
    if "ablation" not in res:  # added once, after the CV run, so a resumed run does not redo it
        preds = pd.read_csv(out.parent / res["predictions"])
        verdict = diagnose(10.0 ** preds["y_true_log10"], 10.0 ** preds["y_pred_log10"])["verdict"]
        extra: dict[str, Any] = {"row": row, "label": label, "verdict": verdict}
        extra["parameters"] = build_model(model, **cfg).parameter_count()
        extra["train_s"] = round(sum(f.get("fit_s", 0.0) for f in res["per_fold"]), 1)
        if row == "1":
            extra["diagnose_model"] = diagnose_fold0(model, cfg, args.limit, args.folds)
        res["ablation"] = extra
        write_json_atomic(out, res)
    return res


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| row | model | change | MAE log10 | RMSE log10 | R² log10 | MAE GPa | R² GPa | spread ratio | verdict "
        "| train time (s, all folds) | parameters |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in results:
        a = r["ablation"]
        lines.append(
            f"| {a['row']} | {r['model']} | {a['label']} | {r['mae_log10']:.4f} | {r['rmse_log10']:.4f} | "
            f"{r['r2_log10']:.3f} | {r['mae_gpa']:.1f} | {r['r2_gpa']:.3f} | {r['spread_ratio']:.2f} | "
            f"{a['verdict']} | {a['train_s']:.0f} | {a['parameters']:,} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="a fixed seeded subset of N crystals (CPU-feasible runs)")
    parser.add_argument(
        "--epochs", type=int, default=100, help="maximum epochs per fold (early stopping may end sooner)"
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rows", default=",".join(rows()), help="comma-separated rows to run, e.g. 1,2,3,4")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--force", action="store_true", help="re-run rows whose results file exists")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    suffix = (
        ""
        if (args.limit, args.epochs, args.folds) == (None, 100, 5)
        else (f"_limit{args.limit or 'all'}_ep{args.epochs}_k{args.folds}")
    )
    t0 = time.perf_counter()
    results = []
    for row in args.rows.split(","):
        results.append(run_row(row, RESULTS / f"gnn_{row}{suffix}.json", args))
    write_json_atomic(RESULTS / f"gnn_ablation{suffix}.json", results)
    cmd = " ".join(["python", str(Path(sys.argv[0]).resolve().relative_to(REPO_ROOT)), *sys.argv[1:]])
    setting = (
        f"{args.limit or 'all'} crystals, {args.folds}-fold CV, at most {args.epochs} epochs, "
        f"early stopping on 10 % of each training fold, seed 0, torch threads {args.threads}"
    )
    notes = [
        f"- row 1 diagnosis from a fold-0 model (`diagnose --model`): {r['ablation']['diagnose_model']}"
        for r in results
        if "diagnose_model" in r["ablation"]
    ]
    write_text_atomic(
        RESULTS / f"gnn_ablation{suffix}.md",
        f"# Graph-network ablation on {DATASET}\n\nMade by `{cmd}` ({setting}; {time.perf_counter() - t0:.0f} s "
        f"this invocation). Spread ratio = std(pred)/std(true) in log10; verdict from `bulkmod diagnose`.\n"
        f"Descriptor reference: LightGBM on Magpie + density, 5-fold MAE 0.0557 log10 (full data).\n\n"
        + table(results)
        + "\n\n"
        + "\n".join(notes)
        + "\n",
    )
    print(table(results))


if __name__ == "__main__":
    main()
