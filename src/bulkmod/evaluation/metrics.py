"""Regression metrics in log10 and in GPa (the original project's own metric), plus per-K-bin errors."""

from __future__ import annotations

import numpy as np

K_BINS_GPA = (0.0, 10.0, 30.0, 100.0, 200.0, np.inf)
K_BIN_LABELS = ("<10", "10-30", "30-100", "100-200", ">200")


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((y - p) ** 2) / ss_tot) if ss_tot > 0 else float("nan")


def regression_metrics(y_log10: np.ndarray, pred_log10: np.ndarray) -> dict[str, float]:
    """MAE/RMSE/R^2 in log10, MAE/R^2 in GPa and the spread ratio std(pred)/std(true) in log10.

    A spread ratio far below 1 is the signature of a model collapsing to the mean.
    """
    y, p = np.asarray(y_log10, float), np.asarray(pred_log10, float)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    if len(y) == 0:
        return {"n": 0}
    err = p - y
    yg, pg = 10.0**y, 10.0**p
    return {
        "n": len(y),
        "mae_log10": float(np.mean(np.abs(err))),
        "rmse_log10": float(np.sqrt(np.mean(err**2))),
        "r2_log10": _r2(y, p),
        "mae_gpa": float(np.mean(np.abs(pg - yg))),
        "r2_gpa": _r2(yg, pg),
        "spread_ratio": float(np.std(p) / np.std(y)) if np.std(y) > 0 else float("nan"),
        "bias_log10": float(np.mean(err)),
    }


def interval_metrics(y_log10: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y_log10)
    if not ok.any():
        return {}
    y, lo, hi = y_log10[ok], lo[ok], hi[ok]
    return {"coverage_90": float(np.mean((y >= lo) & (y <= hi))), "mean_width90_log10": float(np.mean(hi - lo))}


def per_k_bin(y_log10: np.ndarray, pred_log10: np.ndarray) -> list[dict]:
    """MAE per true-K range: soft crystals fail differently from stiff ones."""
    k = 10.0 ** np.asarray(y_log10, float)
    out = []
    for label, lo, hi in zip(K_BIN_LABELS, K_BINS_GPA[:-1], K_BINS_GPA[1:], strict=True):
        m = (k >= lo) & (k < hi) & np.isfinite(pred_log10)
        err = np.abs(pred_log10[m] - y_log10[m])
        out.append(
            {
                "k_bin_gpa": label,
                "n": int(m.sum()),
                "mae_log10": float(err.mean()) if m.any() else None,
                "bias_log10": float((pred_log10[m] - y_log10[m]).mean()) if m.any() else None,
            }
        )
    return out
