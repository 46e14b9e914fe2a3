"""The results schema ("bulkmod-results/1") that every benchmark and evaluation writes.

Reports and reviews read nothing else: one JSON with top-level metrics, per-fold
metrics and provenance, and a per-sample predictions CSV beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bulkmod.errors import BulkmodError
from bulkmod.evaluation.metrics import interval_metrics, per_k_bin, regression_metrics, uncertainty_metrics
from bulkmod.io import atomic_path, write_json_atomic
from bulkmod.provenance import command_line, git_commit, load_average, machine

SCHEMA = "bulkmod-results/1"
PRED_COLUMNS = ["id", "fold", "y_true_log10", "y_pred_log10", "std_log10", "lo90_log10", "hi90_log10"]
# written after PRED_COLUMNS where a run has them: what a report breaks the errors down by, so that it reads only
# the results files and never reloads or re-featurises a dataset
SAMPLE_COLUMNS = ["formula", "n_elements", "crystal_system", "has_structure", "source"]
# the breakdowns a results file records itself (n_elements as 1, 2, 3, 4+); crystal system is the report's alone,
# so results files keep the shape every committed one has
GROUP_COLUMNS = ["n_elements", "has_structure", "source"]


def _group_labels(preds: pd.DataFrame, column: str) -> pd.Series:
    if column == "n_elements":
        return preds[column].clip(upper=4).astype(int).astype(str).replace("4", "4+")
    return preds[column].astype(str)


def per_group(preds: pd.DataFrame) -> dict[str, list[dict]]:
    """Errors and interval quality per number of elements, structure present or not, and label source."""
    out = {}
    for column in GROUP_COLUMNS:
        if column not in preds or preds[column].nunique() < 2:
            continue
        rows = []
        for label, grp in preds.groupby(_group_labels(preds, column), sort=True):
            y, p = grp["y_true_log10"].to_numpy(float), grp["y_pred_log10"].to_numpy(float)
            lo, hi = grp["lo90_log10"].to_numpy(float), grp["hi90_log10"].to_numpy(float)
            metrics = regression_metrics(y, p)
            rows.append({column: label, "n": len(grp), "mae_log10": metrics.get("mae_log10"),
                         "mae_gpa": metrics.get("mae_gpa"), **interval_metrics(y, lo, hi)})  # fmt: skip
        out[column] = rows
    return out


def build_results(
    preds: pd.DataFrame,
    *,
    dataset: str,
    train_dataset: str,
    split: str,
    model: str,
    family: str,
    fold_meta: list[dict] | None = None,
    wall_s: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics over all predictions plus each fold's metrics; ``preds`` has ``PRED_COLUMNS``."""
    y, p = preds["y_true_log10"].to_numpy(float), preds["y_pred_log10"].to_numpy(float)
    lo, hi = preds["lo90_log10"].to_numpy(float), preds["hi90_log10"].to_numpy(float)
    per_fold = []
    for k, grp in preds.groupby("fold"):
        row = {"fold": int(k), **regression_metrics(grp["y_true_log10"].to_numpy(), grp["y_pred_log10"].to_numpy())}
        row |= interval_metrics(*(grp[c].to_numpy(float) for c in ("y_true_log10", "lo90_log10", "hi90_log10")))
        if fold_meta:
            row.update(fold_meta[int(k)])
        per_fold.append(row)
    res: dict[str, Any] = {
        "schema": SCHEMA,
        "dataset": dataset,
        "train_dataset": train_dataset,
        "split": split,
        "model": model,
        "family": family,
        **regression_metrics(y, p),
        "n_failed": int((~np.isfinite(p)).sum()),
        **interval_metrics(y, lo, hi),
        **uncertainty_metrics(y, p, preds["std_log10"].to_numpy(float)),
        "per_k_bin": per_k_bin(y, p, lo, hi),
        "per_group": per_group(preds),
        "per_fold": per_fold,
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "wall_s": round(wall_s, 2),
        "load_avg_end": load_average(),  # 1/5/15 min: was the machine shared?
    }
    res.update(extra or {})
    return res


def write_results(res: dict[str, Any], preds: pd.DataFrame, out: Path | str) -> Path:
    """Write the results JSON to ``out`` and the per-sample predictions beside it as CSV, each atomically."""
    out = Path(out)
    if out.suffix != ".json":
        raise BulkmodError(f"{out}: results go to a .json file")
    csv_path = out.with_name(out.stem + ".predictions.csv")
    with atomic_path(csv_path) as tmp:
        preds[PRED_COLUMNS + [c for c in SAMPLE_COLUMNS if c in preds]].to_csv(tmp, index=False, float_format="%.6f")
    res["predictions"] = csv_path.name
    write_json_atomic(out, res)
    return out


def read_results(path: Path | str) -> dict[str, Any]:
    """A results file's contents; anything that is not a readable file of this schema is refused by name."""
    path = Path(path)
    try:
        res = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BulkmodError(f"{path}: not a readable results file ({exc})") from None
    if not isinstance(res, dict) or res.get("schema") != SCHEMA:
        raise BulkmodError(f"{path}: not a {SCHEMA} results file")
    return res
