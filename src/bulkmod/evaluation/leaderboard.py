"""Per-sample comparison with every matbench leaderboard submission on the same samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from bulkmod.io import shared_data_dir


def leaderboard_predictions() -> pd.DataFrame | None:
    """The leaderboard's per-sample predictions from the shared data folder; None where it is not there."""
    try:
        path = shared_data_dir() / "matbench_results" / "matbench_log_kvrh_per_sample_predictions.csv"
    except Exception:
        return None
    return pd.read_csv(path) if path.exists() else None


def compare_with_leaderboard(preds: pd.DataFrame) -> list[dict]:
    """For each leaderboard model: MAE on the shared samples, ours on the same, and how often we win."""
    board = leaderboard_predictions()
    if board is None:
        return []
    merged = preds.merge(board, left_on="id", right_on="mbid", how="inner")
    merged = merged[np.isfinite(merged["y_pred_log10"])]
    if merged.empty:
        return []
    ours = np.abs(merged["y_pred_log10"] - merged["y_true_log10"]).to_numpy()
    rows = []
    for col in sorted(c for c in board.columns if c.startswith("pred_")):
        theirs = np.abs(merged[col] - merged["y_true_log10"]).to_numpy()
        ok = np.isfinite(theirs)
        diff = ours[ok] - theirs[ok]
        p = float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
        rows.append(
            {
                "model": col.removeprefix("pred_"),
                "n_shared": int(ok.sum()),
                "mae_leaderboard": float(theirs[ok].mean()),
                "mae_ours": float(ours[ok].mean()),
                "frac_samples_ours_better": float(np.mean(ours[ok] < theirs[ok])),
                "wilcoxon_p": p,
            }
        )
    return sorted(rows, key=lambda r: r["mae_leaderboard"])
