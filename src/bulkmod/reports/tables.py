"""Markdown comparison tables built only from results files in the ``bulkmod-results/1`` schema."""

from __future__ import annotations

from bulkmod.evaluation.metrics import HEADLINE, K_BIN_LABELS

COLUMNS = (*HEADLINE, "coverage_90", "mean_width90_log10", "wall_s")


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def results_table(results: list[dict], label_key: str = "label") -> str:
    """One row per results object: the headline metrics and MAE per true-K bin."""
    head = ["run", "dataset", "split", "n", *COLUMNS, *[f"MAE K {b}" for b in K_BIN_LABELS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        bins = {b["k_bin_gpa"]: b["mae_log10"] for b in r.get("per_k_bin", [])}
        row = [r.get(label_key, r["model"]), r["dataset"], r["split"], r["n"], *[r.get(c) for c in COLUMNS]]
        row += [bins.get(b) for b in K_BIN_LABELS]
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def group_tables(res: dict) -> str:
    """A run's breakdown: per group (elements, structure, source), per fold, and against the leaderboard."""
    out = []
    for column, rows in res.get("per_group", {}).items():
        out += [f"By {column}:\n", _table(rows, [column, "n", "mae_log10", "mae_gpa", "coverage_90",
                                                  "mean_width90_log10"]), ""]  # fmt: skip
    if len(res.get("per_fold", [])) > 1:
        out += ["Per fold:\n", _table(res["per_fold"], ["fold", "n", "mae_log10", "coverage_90", "mean_width90_log10"]),
                ""]  # fmt: skip
    for key, title in (("leaderboard", "all rows"), ("leaderboard_rows_with_structure", "rows with a structure")):
        if res.get(key):
            rows = [r | {"wilcoxon_p": f"{r['wilcoxon_p']:.2g}"} for r in res[key]]
            out += [f"Against the matbench leaderboard, {title} (per sample, paired Wilcoxon):\n",
                    _table(rows, ["model", "n_shared", "mae_leaderboard", "mae_ours", "frac_samples_ours_better",
                                  "wilcoxon_p"]), ""]  # fmt: skip
    return "\n".join(out)
