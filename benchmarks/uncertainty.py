"""Uncertainty table of the ensembles-and-uncertainty issue, rebuilt from committed result JSONs.

    python benchmarks/uncertainty.py

Reads ``benchmarks/results/<folder>/mp-binary-2025_<run>_<split>.json`` for the runs below (the ``bulkmod
benchmark`` runs live in ``uncertainty/``, the lgbm and umlip-blend rows in the folders of the scripts that made
them; missing ones are listed as not run) and writes ``benchmarks/results/uncertainty/uncertainty.md``: 90 %
coverage and width, Spearman(|error|, std), MAE, MAE of the 10 % most uncertain crystals vs the rest, and
coverage per true-K bin. The benchmark commands and the machine load while they ran are in
``uncertainty_runs.log`` beside it (appended verbatim).
"""

from __future__ import annotations

from pathlib import Path

from bulkmod.errors import BulkmodError
from bulkmod.evaluation.metrics import K_BIN_LABELS
from bulkmod.evaluation.results import read_results

RESULTS = Path(__file__).resolve().parent / "results" / "uncertainty"
DESCRIPTOR_RESULTS = RESULTS.parent / "descriptor_models"
UMLIP_RESULTS = RESULTS.parent / "umlip"
# (label, run, folder of its results)
RUNS = (
    ("lgbm as in descriptor_models.md (kfold: adaptive; ood: constant band)", "lgbm", DESCRIPTOR_RESULTS),
    ("lgbm adaptive", "lgbm-adaptive", RESULTS),
    ("lgbm tempered", "lgbm-tempered", RESULTS),
    ("ensemble 5 lgbm, members on 85 %", "ensemble-lgbm5", RESULTS),
    ("ensemble 5 lgbm, refit", "ensemble-lgbm5-refit", RESULTS),
    ("ensemble 5 lgbm, cross-fitted, mixture std", "ensemble-lgbm5-crossfit", RESULTS),
    ("ensemble 5 lgbm, cross-fitted, mixture std ** p (temper)", "ensemble-lgbm5-crossfit-tempered", RESULTS),
    ("ensemble 5 lgbm, cross-fitted, disagreement std (the default)", "ensemble-lgbm5-disagreement", RESULTS),
    ("ensemble 5 lgbm, as the default but vary=hyper (LightGBM settings per member)", "ensemble-lgbm5-hyper", RESULTS),
    ("umlip-blend (default model)", "umlip-blend", UMLIP_RESULTS),
    ("qlgbm (CQR)", "qlgbm", RESULTS),
    ("gpr (descriptors clamped to the training range)", "gpr", RESULTS),
    ("deep ensemble: 5 hybrid graph models, 30 epochs, calibrated on 15 %", "ensemble-hybrid5_ep30", RESULTS),
    ("one cgcnn (AdamW, standardised log10, Huber), 30 epochs", "cgcnn_ep30", RESULTS),
    ("deep ensemble: 10 cgcnn (their Option 3), 30 epochs, calibrated on 15 %", "ensemble-cgcnn10_ep30", RESULTS),
    ("mc-dropout hybrid, 600 rows, 20 epochs", "mc-dropout_limit600_ep20", RESULTS),
    ("mc-dropout hybrid, all crystals, 30 epochs", "mc-dropout_ep30", RESULTS),
    ("mc-dropout hybrid, all crystals, 30 epochs, encoder dropout 0.1", "mc-dropout-enc01_ep30", RESULTS),
    ("last-layer Laplace hybrid, all crystals, 30 epochs", "laplace-hybrid_ep30", RESULTS),
)
SPLITS = ("kfold", "ood-elastic2015")
TARGET = "targets: coverage_90 within 0.85-0.95 in distribution (kfold), >= 0.85 on ood-elastic2015; Spearman >= 0.3"


def _f(x: float | None, spec: str = ".3f") -> str:
    return "" if x is None else format(x, spec)


def row(label: str, split: str, res: dict) -> str:
    bins = {b["k_bin_gpa"]: b for b in res["per_k_bin"]}
    per_bin = " / ".join(_f(bins[k].get("coverage_90"), ".2f") or "-" for k in K_BIN_LABELS)
    members = [f["member_mae_log10"] for f in res["per_fold"] if "member_mae_log10" in f]
    vs_best = ""
    if members:
        worse = [f["mae_log10"] - min(m) for f, m in zip(res["per_fold"], members, strict=True)]
        vs_best = f"{sum(w > 0 for w in worse)}/{len(worse)} folds worse (max {max(worse):+.4f})"
    width = res.get("width90_log10_p10_p90")
    cells = [
        label,
        split,
        str(res["n"]),
        _f(res["mae_log10"], ".4f"),
        _f(res.get("coverage_50")),
        _f(res.get("coverage_90")),
        _f(res.get("mean_width90_log10")),
        f"{width[0]:.3f}-{width[1]:.3f}" if width else "",
        _f(res.get("spearman_abs_err_std"), ".2f"),
        f"{_f(res.get('mae_top10_uncertain'), '.3f')} / {_f(res.get('mae_rest'), '.3f')}" if "mae_rest" in res else "",
        per_bin,
        vs_best,
        f"{res['wall_s']:.0f}",
        res["commit"],
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    lines = [
        "# Uncertainty on mp-binary-2025 (kfold-5) and ood-elastic2015",
        "",
        f"Built by `python benchmarks/uncertainty.py` from the result JSONs; {TARGET}.",
        "All intervals are conformal, calibrated on the training part only; widths in log10(GPa).",
        "coverage 50: of the Gaussian 50 % interval (±0.674 std) implied by the calibrated 90 % one.",
        "",
        "| model | split | n | MAE log10 | coverage 50 | coverage 90 | mean width | width p10-p90 | Spearman | "
        f"MAE top-10 % uncertain / rest | coverage per K bin ({' / '.join(K_BIN_LABELS)} GPa) | "
        "ensemble vs best member | wall s | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    missing, commands = [], []
    for label, run, folder in RUNS:
        for split in SPLITS:
            path = folder / f"mp-binary-2025_{run}_{split}.json"
            try:
                res = read_results(path)
            except BulkmodError:
                missing.append(path.name)
                continue
            lines.append(row(label, split, res))
            load = f", load average at the end {res['load_avg_end']}" if "load_avg_end" in res else ""
            commands.append(f"{path.name}: {res['command']}  [{res['machine']}{load}]")
    if missing:
        lines += ["", "Not run: " + ", ".join(f"`{m}`" for m in missing)]
    lines += ["", "## Commands", "", "```", *commands, "```"]
    log = RESULTS / "uncertainty_runs.log"
    if log.exists():
        lines += ["", "## Machine load (1/5/15-min load average on 2 cores, shared with other jobs)", "", "```"]
        lines += [log.read_text().rstrip(), "```"]
    (RESULTS / "uncertainty.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'uncertainty.md'}")


if __name__ == "__main__":
    main()
