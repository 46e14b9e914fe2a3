"""Figures a researcher looks at first: parity, residuals by modulus, the collapse picture, calibration.

Every function takes plain arrays (log10 GPa) and returns a matplotlib Figure, so the same plots serve
benchmark results, a user's own predictions (`bulkmod diagnose --report`) and tests.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from bulkmod.evaluation.metrics import K_BIN_LABELS, K_BINS_GPA, k_bin_masks
from bulkmod.uncertainty.constants import z_value

GPA_TICKS = FuncFormatter(lambda v, _: f"{10**v:.3g}")
NICE_GPA = np.log10([0.3, 1, 3, 10, 30, 100, 300, 1000])


def _gpa_axis(ax, which: str = "both") -> None:
    """Data are log10(GPa); ticks sit at round GPa values and are labelled in GPa."""
    axes = {"x": [ax.xaxis], "y": [ax.yaxis], "both": [ax.xaxis, ax.yaxis]}[which]
    for axis in axes:
        axis.set_major_locator(FixedLocator(NICE_GPA))
        axis.set_major_formatter(GPA_TICKS)


def parity(
    y: np.ndarray, p: np.ndarray, colour: np.ndarray | None = None, colour_label: str = "fold", title: str = ""
) -> Figure:
    """Predicted vs true K on log axes labelled in GPa, with the identity line."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    style = {"c": colour, "cmap": "viridis"} if colour is not None else {"color": "tab:blue"}
    sc = ax.scatter(y, p, s=6, alpha=0.6, **style)
    lo, hi = float(np.nanmin([y.min(), np.nanmin(p)])) - 0.05, float(np.nanmax([y.max(), np.nanmax(p)])) + 0.05
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="true K_VRH (GPa)", ylabel="predicted K_VRH (GPa)", title=title)
    _gpa_axis(ax)
    if colour is not None:
        fig.colorbar(sc, ax=ax, label=colour_label)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def residuals_vs_true(y: np.ndarray, p: np.ndarray, title: str = "") -> Figure:
    """Where does it fail? Residual vs true K with the K bins used in every results file."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.scatter(y, p - y, s=5, alpha=0.5)
    ax.axhline(0, color="k", lw=1)
    for edge in K_BINS_GPA[1:-1]:
        ax.axvline(np.log10(edge), color="grey", lw=0.6, ls=":")
    pts = [(np.median(y[m]), np.mean(np.abs(p[m] - y[m]))) for m in k_bin_masks(y) if m.any()]
    if pts:
        ax.plot(*zip(*pts, strict=True), "o-", color="tab:red", label="MAE per K bin")
        ax.legend(loc="upper right")
    ax.set(xlabel="true K_VRH (GPa)", ylabel="residual (log10)", title=title)
    _gpa_axis(ax, "x")
    fig.tight_layout()
    return fig


def range_picture(y: np.ndarray, p: np.ndarray, title: str = "") -> Figure:
    """Distribution of predictions vs truth: a collapsed model shows a spike inside a wide histogram."""
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    bins = np.linspace(min(y.min(), np.nanmin(p)), max(y.max(), np.nanmax(p)), 50)
    ax.hist(y, bins=bins, alpha=0.5, label="true")
    ax.hist(p[np.isfinite(p)], bins=bins, alpha=0.5, label="predicted")
    ax.set(xlabel="K_VRH (GPa)", ylabel="crystals", title=title)
    _gpa_axis(ax, "x")
    ax.legend()
    fig.tight_layout()
    return fig


def error_by_group(groups: list[str], abs_err: np.ndarray, xlabel: str, title: str = "") -> Figure:
    """MAE per category (crystal system, number of elements), with counts on the bars."""
    cats = sorted(set(groups), key=lambda c: (len(c), c))
    g = np.asarray(groups)
    mae = [float(abs_err[g == c].mean()) for c in cats]
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    bars = ax.bar(cats, mae)
    for bar, c in zip(bars, cats, strict=True):
        ax.annotate(
            f"n={int((g == c).sum())}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set(xlabel=xlabel, ylabel="MAE (log10)", title=title)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def calibration(
    y: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray, std: np.ndarray | None, title: str = ""
) -> Figure:
    """Observed vs nominal coverage (Gaussian levels from std when present) and the 90 % width per K bin."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.4, 3.6))
    if std is not None and np.isfinite(std).any():
        levels = np.linspace(0.05, 0.95, 19)
        obs = [np.mean(np.abs(y - p) <= z_value(lv) * std) for lv in levels]
        a1.plot(levels, obs, "o-", label="Gaussian from std")
    cover = [np.mean((y[m] >= lo[m]) & (y[m] <= hi[m])) if m.any() else np.nan for m in k_bin_masks(y)]
    a1.plot([0.9], [np.mean((y >= lo) & (y <= hi))], "r*", ms=12, label="90 % interval, all")
    a1.plot([0, 1], [0, 1], "k--", lw=1)
    a1.set(xlabel="nominal coverage", ylabel="observed coverage", xlim=(0, 1), ylim=(0, 1), title=title)
    a1.legend(loc="upper left", fontsize=8)
    x = np.arange(len(K_BIN_LABELS))
    a2.bar(x, cover, color="tab:orange")
    a2.axhline(0.9, color="k", ls="--", lw=1)
    a2.set_xticks(x, K_BIN_LABELS)
    a2.set(xlabel="true K bin (GPa)", ylabel="90 % coverage", ylim=(0, 1), title="coverage by K bin")
    fig.tight_layout()
    return fig
