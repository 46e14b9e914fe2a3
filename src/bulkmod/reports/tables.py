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
