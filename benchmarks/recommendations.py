"""The original project's list of fixes, each with what it gives here: the README section, made from results files.

    python benchmarks/recommendations.py [--check]

Each recipe the original project proposed points at the committed results file (and row) that measured it on
mp-binary-2025 5-fold CV (or says it has not been run as written). MAE log10 and R² in GPa (the original
project's metric) and the spread ratio are read from that file; the verdict reads the spread ratio (a collapse)
and compares the MAE with the descriptor LightGBM's, read the same way. The table is
written between the markers of the README section "Their recommendations, measured" and to
``benchmarks/results/recommendations/recommendations.md``; ``--check`` fails if either is stale
(tests/test_results_index.py runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "recommendations" / "recommendations.md"
README = ROOT / "README.md"
START, END = "<!-- recommendations:start -->", "<!-- recommendations:end -->"
GNN = "gnn_ablation/gnn_ablation_limitall_ep30_k5.json"
BASELINE = "descriptor_models/mp-binary-2025_lgbm_kfold.json"


@dataclass(frozen=True)
class Recipe:
    recipe: str
    ran: str  # what bulkmod ran for it
    source: str | None  # results file under benchmarks/results/, None: not run as written yet
    row: str | None = None  # row of a gnn_ablation collection
    note: str = ""


RECIPES = (
    Recipe("CGCNN as they trained it (the failure)", "cgcnn, raw GPa, MSE, SGD lr 0.01", GNN, "1"),
    Recipe("log10 target", "cgcnn + log10(K)", GNN, "2"),
    Recipe("standardised log10 target", "cgcnn + standardised log10(K)", GNN, "3"),
    Recipe("Huber loss", "cgcnn + Huber on the standardised target", GNN, "4"),
    Recipe("deeper CGCNN, n_conv=8, h_fea_len=512, dropout", "row 4 + 8 convolutions, 512 hidden, dropout 0.1, "
           "weight decay (their SGD)", GNN, "10"),
    Recipe("the same without residual connections", "row 10 without the convolutions' residual sums", GNN, "10n"),
    Recipe("attention and local + global features", "cgcnn-deep: bond angles, attention pooling, density", GNN, "5"),
    Recipe("SchNet", "schnet", GNN, "6"),
    Recipe("MEGNet trained here", "megnet (bulkmod's own)", GNN, "7"),
    Recipe("pretrained MEGNet", "megnet-pretrained mp-2019.4.1, zero-shot",
           "original_recipes/mp-binary-2025_megnet-pretrained-mp-2019.4.1_kfold.json",
           note="trained on MP elasticity data: memory, not skill"),
    Recipe("pretrained MEGNet, fine-tuned", "megnet --param pretrained=mp-2019.4.1, 30 epochs per fold",
           "original_recipes/mp-binary-2025_megnet-finetuned-mp-2019.4.1_ep30_kfold.json",
           note="started from MP elasticity data: partly memory"),
    Recipe("hybrid graph + descriptors", "hybrid, lgbm's descriptors at the readout", GNN, "8b"),
    Recipe("mechanical descriptors, gradient boosting", "lgbm on composition + structure descriptors", BASELINE),
    Recipe("random forest", "rf (LightGBM rf mode)", "descriptor_models/mp-binary-2025_rf_kfold.json"),
    Recipe("XGBoost", "xgb", "descriptor_models/mp-binary-2025_xgb_kfold.json"),
    Recipe("Gaussian process", "gpr, Matérn-ARD on descriptors", "uncertainty/mp-binary-2025_gpr_kfold.json"),
    Recipe("one CGCNN (for the ensemble below)", "cgcnn, bulkmod's defaults (AdamW, standardised log10, Huber), "
           "30 epochs", "uncertainty/mp-binary-2025_cgcnn_ep30_kfold.json"),
    Recipe("ensemble of 10 CGCNNs", "10 cgcnn seeds, as the deep ensemble below",
           "uncertainty/mp-binary-2025_ensemble-cgcnn10_ep30_kfold.json"),
    Recipe("deep ensemble", "5 hybrid graph models", "uncertainty/mp-binary-2025_ensemble-hybrid5_ep30_kfold.json"),
    Recipe("Bayesian neural network", "last-layer Laplace on the hybrid",
           "uncertainty/mp-binary-2025_laplace-hybrid_ep30_kfold.json"),
    Recipe("Bayesian neural network, cheaply", "Monte-Carlo dropout on the hybrid",
           "uncertainty/mp-binary-2025_mc-dropout-enc01_ep30_kfold.json"),
    Recipe("physics + ML hybrid", "umlip-blend: lgbm and lgbm + CHGNet's E-V fit",
           "umlip/mp-binary-2025_umlip-blend_kfold.json"),
)  # fmt: skip


def _result(source: str | None, row: str | None) -> dict | None:
    """The results of ``source`` (its ``row`` of an ablation collection), or None where they are not committed.

    A run still in progress is then listed as not measured.
    """
    path = RESULTS / source if source else None
    if path is None or not path.exists():
        return None
    data = json.loads(path.read_text())
    if row is None:
        return data
    return next((r for r in data if r["ablation"]["row"] == row), None)


COLLAPSED_SPREAD = 0.5  # predictions spanning under half the true spread: the failure's signature


def _verdict(res: dict, baseline: float) -> str:
    if res["spread_ratio"] < COLLAPSED_SPREAD:
        return "collapsed: the predictions barely vary"
    if res["mae_log10"] <= baseline:
        return "**best here: use it**"
    above = f"MAE {res['mae_log10'] / baseline - 1:.0%} above the descriptor model"
    diagnosed = res.get("ablation", {}).get("verdict", "ok")  # the ablation rows carry `bulkmod diagnose`'s verdict
    return f"works; {above}" if diagnosed == "ok" else f"unstable (`bulkmod diagnose`: {diagnosed}); {above}"


def _r2(r2: float) -> str:
    """R² to three decimals; a blown-up one (a few predictions of 10^14 GPa) in scientific notation."""
    return f"{r2:.3f}" if abs(r2) < 1e3 else f"{r2:.1e}"


def _coverage(res: dict) -> str:
    return f"{res['coverage_90']:.3f}" if res.get("coverage_90") is not None else ""


def render() -> str:
    baseline = json.loads((RESULTS / BASELINE).read_text())["mae_log10"]
    lines = [
        "| their recommendation | what bulkmod ran | MAE log10 | R² (GPa) | spread ratio | 90 % coverage | verdict "
        "| results file |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in RECIPES:
        res = _result(r.source, r.row)
        if res is None:
            why = f"`{r.source}` is not committed yet" if r.source else r.note
            lines.append(f"| {r.recipe} | {r.ran} | | | | | not measured yet: {why} | |")
            continue
        verdict = _verdict(res, baseline)
        verdict += f"; {r.note}" if r.note else ""
        where = f"`{r.source}`" + (f" row {r.row}" if r.row else "")
        lines.append(
            f"| {r.recipe} | {r.ran} | {res['mae_log10']:.4f} | {_r2(res['r2_gpa'])} | {res['spread_ratio']:.2f} | "
            f"{_coverage(res)} | {verdict} | {where} |"
        )
    return "\n".join(lines) + "\n"


def _readme_with(table: str) -> str:
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if README or the results file is stale")
    args = parser.parse_args()
    table = render()
    md = "# Their recommendations, measured\n\nMade by `python benchmarks/recommendations.py`.\n\n" + table
    if args.check:
        wanted = ((OUT, md), (README, _readme_with(table)))
        stale = [str(p) for p, want in wanted if not p.exists() or p.read_text() != want]
        if stale:
            sys.exit(f"stale: {', '.join(stale)}: run python benchmarks/recommendations.py")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(md)
    README.write_text(_readme_with(table))


if __name__ == "__main__":
    main()
