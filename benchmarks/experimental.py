"""DFT-trained models against experimental bulk moduli (expt-jarvis), uncorrected and LOO-corrected.

    python benchmarks/experimental.py

Writes ``benchmarks/results/experimental/expt-jarvis_default{,_corrected}.json`` (bulkmod-results/1) and
``experimental.md`` beside them (per material class: MAE, median ratio prediction/experiment, Spearman rho).
"""

from __future__ import annotations

from pathlib import Path

from bulkmod.evaluation.experimental import evaluate_experimental

RESULTS = Path(__file__).resolve().parent / "results" / "experimental"


def _table(rows: list[dict]) -> list[str]:
    out = ["| class | n | MAE log10 | median pred/exp | Spearman |", "|---|---|---|---|---|"]
    for r in rows:
        rho = "" if r["spearman"] != r["spearman"] else f"{r['spearman']:.2f}"
        out.append(
            f"| {r['material_class']} | {r['n']} | {r['mae_log10']:.3f} | {r['median_ratio_pred_exp']:.3f} | {rho} |"
        )
    return out


def main() -> None:
    plain = evaluate_experimental("default", out=RESULTS / "expt-jarvis_default.json")
    corr = evaluate_experimental("default", correct=True, out=RESULTS / "expt-jarvis_default_corrected.json")
    c, g = corr["correction"], corr["correction_global_only"]
    lines = [
        "# DFT-trained models vs experiment (expt-jarvis)",
        "",
        f"Model: default ({plain['path']} path, {Path(plain['model_dir']).name}); {plain['n']} scored rows, "
        f"{plain['n_rejected_input']} duplicate rows rejected, not scored (outside the training elements): "
        + ", ".join(r["formula"] for r in plain["out_of_domain"]) + ".",
        "",
        "## Uncorrected", "", *_table(plain["per_class_uncorrected"]), "",
        "## DFT -> experiment correction, leave-one-out", "",
        f"Global map `{g['form']}`: a = {g['a']:+.3f}, b = {g['b']:+.3f}, LOO MAE {g['loo_mae_log10']:.3f}.",
        "", *_table(corr["per_class_corrected_global_only"]), "",
        f"Class-aware map `{c['form']}`: a = {c['a']:+.3f}, b = {c['b']:+.3f}, offsets "
        + ", ".join(f"{k} {v:+.3f}" for k, v in c["class_offsets"].items())
        + f"; LOO MAE {c['loo_mae_log10']:.3f}; 90 % interval ± {c['interval90_halfwidth_log10']:.3f} log10 "
        f"(LOO coverage {corr.get('coverage_90', float('nan')):.2f}).",
        "", *_table(corr["per_class_corrected"]), "",
        "Made by `python benchmarks/experimental.py`.",
    ]  # fmt: skip
    (RESULTS / "experimental.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
