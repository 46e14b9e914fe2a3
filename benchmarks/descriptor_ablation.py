"""Which of the original analysis' descriptors help? Cumulative feature groups, LightGBM, mp-binary-2025 5-fold.

    python benchmarks/descriptor_ablation.py [--force]

Rows add one group at a time (Magpie; + density; + coordination; + bonds/angles; + packing; + size
mismatch / electronegativity difference; + stoichiometry and space group). Each row is a results file
(``benchmarks/results/descriptor_ablation/ablation_<k>_<group>.json``; existing ones are skipped, so a killed
run resumes); ``descriptor_ablation.md`` beside them gives the table and a paired Wilcoxon test of each row
against the previous one on the same crystals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from bulkmod.evaluation.benchmark import run_benchmark
from bulkmod.features import FeatureConfig
from bulkmod.reports.tables import results_table

RESULTS = Path(__file__).resolve().parent / "results" / "descriptor_ablation"
STEPS = ("magpie", "density", "coordination", "bonds", "packing", "mismatch", "stoich+spacegroup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    groups: list[str] = []
    done, errors = [], []
    for k, step in enumerate(STEPS):
        groups += step.split("+")
        out = RESULTS / f"ablation_{k}_{step.replace('+', '-')}.json"
        if not out.exists() or args.force:
            print(f"== {'+'.join(groups)}", flush=True)
            cfg = {"features": FeatureConfig(tuple(groups)).as_dict(), "inner_folds": 1}
            run_benchmark("mp-binary-2025", "lgbm", model_config=cfg, out=out)
        res = json.loads(out.read_text())
        preds = pd.read_csv(RESULTS / res["predictions"]).sort_values("id")
        errors.append(np.abs(preds["y_pred_log10"] - preds["y_true_log10"]).to_numpy())
        done.append(res | {"label": ("" if k == 0 else "+ ") + step})
    lines = ["| step | MAE log10 | change vs previous | Wilcoxon p (paired, same crystals) |", "|---|---|---|---|"]
    for k, res in enumerate(done):
        if k == 0:
            lines.append(f"| {res['label']} | {res['mae_log10']:.4f} | | |")
            continue
        delta = res["mae_log10"] - done[k - 1]["mae_log10"]
        p = wilcoxon(errors[k], errors[k - 1]).pvalue
        lines.append(f"| {res['label']} | {res['mae_log10']:.4f} | {delta:+.4f} | {p:.2g} |")
    (RESULTS / "descriptor_ablation.md").write_text(
        "# Descriptor-group ablation (LightGBM, mp-binary-2025, kfold 5)\n\n"
        "Made by `python benchmarks/descriptor_ablation.py`. Groups are added cumulatively; early stopping on a\n"
        "10 % split of each training fold (nested).\n\n" + "\n".join(lines) + "\n\n" + results_table(done) + "\n"
    )


if __name__ == "__main__":
    main()
