"""Regression metrics in log10 and in GPa (the original project's own metric), plus per-K-bin errors."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from bulkmod.uncertainty.constants import z_value

K_BINS_GPA = (0.0, 10.0, 30.0, 100.0, 200.0, np.inf)
K_BIN_LABELS = ("<10", "10-30", "30-100", "100-200", ">200")
HEADLINE = ("mae_log10", "rmse_log10", "r2_log10", "mae_gpa", "r2_gpa", "spread_ratio")  # what tables lead with


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
    """Coverage and mean width of the 90 % intervals, over the rows where all three are finite; {} if none are."""
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y_log10)
    if not ok.any():
        return {}
    y, lo, hi = y_log10[ok], lo[ok], hi[ok]
    return {"coverage_90": float(np.mean((y >= lo) & (y <= hi))), "mean_width90_log10": float(np.mean(hi - lo))}


def uncertainty_metrics(y_log10: np.ndarray, pred_log10: np.ndarray, std_log10: np.ndarray) -> dict[str, float]:
    """Is the predicted std right? Gaussian coverage, calibration error, NLL, and error-std ranking.

    ``std_log10`` is the calibrated std (the 90 % interval's half-width / z_0.95), so ``coverage_50`` is the
    coverage of the 50 % interval that interval implies under a Gaussian, ±0.674 std; it tests the interval's
    shape, which a 90 % coverage alone cannot.
    """
    from scipy.stats import spearmanr

    ok = np.isfinite(y_log10) & np.isfinite(pred_log10) & np.isfinite(std_log10) & (std_log10 > 0)
    if ok.sum() < 10:
        return {}
    err, s = np.abs(pred_log10[ok] - y_log10[ok]), std_log10[ok]
    levels = np.linspace(0.05, 0.95, 19)
    observed = np.array([np.mean(err <= z_value(lv) * s) for lv in levels])
    top = s >= np.quantile(s, 0.9)
    return {
        "coverage_50": float(np.mean(err <= z_value(0.5) * s)),
        "miscalibration_area": float(np.mean(np.abs(observed - levels))),
        "nll": float(np.mean(0.5 * np.log(2 * np.pi * s**2) + 0.5 * (err / s) ** 2)),
        "spearman_abs_err_std": float(spearmanr(err, s).statistic),
        "mae_top10_uncertain": float(err[top].mean()),
        "mae_rest": float(err[~top].mean()),
        "width90_log10_p10_p90": [float(np.quantile(2 * z_value(0.9) * s, q)) for q in (0.1, 0.9)],
    }


def k_bin_masks(y_log10: np.ndarray) -> list[np.ndarray]:
    """One boolean mask per true-K bin (``K_BIN_LABELS``)."""
    k = 10.0 ** np.asarray(y_log10, float)
    return [(k >= lo) & (k < hi) for lo, hi in pairwise(K_BINS_GPA)]


def per_k_bin(
    y_log10: np.ndarray, pred_log10: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None
) -> list[dict]:
    """MAE (and 90 % coverage, given intervals) per true-K range: soft crystals fail differently."""
    out = []
    for label, mask in zip(K_BIN_LABELS, k_bin_masks(y_log10), strict=True):
        m = mask & np.isfinite(pred_log10)
        err = pred_log10[m] - y_log10[m]
        row = {
            "k_bin_gpa": label,
            "n": int(m.sum()),
            "mae_log10": float(np.abs(err).mean()) if m.any() else None,
            "bias_log10": float(err.mean()) if m.any() else None,
        }
        if lo is not None and hi is not None and m.any() and np.isfinite(lo[m]).all():
            row |= interval_metrics(y_log10[m], lo[m], hi[m])
        out.append(row)
    return out
