"""DFT-trained models against experiment, and a small DFT -> experiment correction fitted leave-one-out.

Materials Project moduli are PBE values; PBE is known to underestimate K by several percent (it over-
binds less than LDA and overestimates volumes). The experimental set is tiny (a few dozen simple solids),
so every number here is leave-one-out and the correction's interval comes from its LOO residuals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Element
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge

from bulkmod.data import load_dataset
from bulkmod.evaluation.evaluate import model_for_inputs
from bulkmod.evaluation.results import build_results, write_results
from bulkmod.models.base import Estimator, read_manifest
from bulkmod.uncertainty.conformal import ConformalInterval

NOBLE_GASES = {"He", "Ne", "Ar", "Kr", "Xe", "Rn"}
ANIONS = {"O", "S", "Se", "Te", "F", "Cl", "Br", "I", "N"}
RIDGE_ALPHA = 1.0  # shrinks the slope towards 1 (the map starts at the identity; see _design)


def material_class(comp: Composition) -> str:
    """Metal / ionic / covalent / van der Waals, by a simple chemical rule (enough for simple solids)."""
    symbols = {el.symbol for el in comp.elements}
    if symbols <= NOBLE_GASES:
        return "van der Waals"
    if all(Element(s).is_metal for s in symbols):
        return "metal"
    if symbols & ANIONS and any(Element(s).is_metal for s in symbols):
        return "ionic"
    return "covalent"


CLASS_OFFSETS = ("metal", "ionic")  # per-class offsets on top of the global map (covalent is the reference)


def _design(pred_log10: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Slope term centred near 100 GPa (so the ridge acts on the slope) and, optionally, class indicators."""
    cols = [pred_log10 - 2.0]
    if classes is not None:
        cols += [(classes == c).astype(float) for c in CLASS_OFFSETS]
    return np.column_stack(cols)


def loo_correction(
    pred_log10: np.ndarray, y_log10: np.ndarray, classes: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Leave-one-out predictions of log10 K_exp = pred + a + b (pred - 2) [+ class offsets], ridge-shrunk.

    Every prediction of row i comes from a map fitted without row i, so ``loo_mae_log10`` is an honest
    error estimate even on a few dozen measurements.
    """
    n = len(y_log10)
    out = np.empty(n)
    X = _design(pred_log10, classes)
    for i in range(n):
        m = np.arange(n) != i
        reg = Ridge(alpha=RIDGE_ALPHA).fit(X[m], y_log10[m] - pred_log10[m])
        out[i] = pred_log10[i] + reg.predict(X[i : i + 1])[0]
    full = Ridge(alpha=RIDGE_ALPHA).fit(X, y_log10 - pred_log10)
    interval = ConformalInterval.from_residuals(out - y_log10)
    info = {
        "form": "log10 K_exp = log10 K_pred + a + b (log10 K_pred - 2)"
        + (" + offset[material class]" if classes is not None else ""),
        "a": float(full.intercept_),
        "b": float(full.coef_[0]),
        "class_offsets": dict(zip(CLASS_OFFSETS, map(float, full.coef_[1:]), strict=True))
        if classes is not None
        else {},
        "ridge_alpha": RIDGE_ALPHA,
        "n_fit": n,
        "loo_mae_log10": float(np.mean(np.abs(out - y_log10))),
        "interval90_halfwidth_log10": interval.q90,
        "interval_note": f"jackknife (LOO) conformal from {n} residuals: with so few points the 90 % band is "
        "roughly the second-largest LOO error",
    }
    return out, info


def class_metrics(df: pd.DataFrame, pred_col: str) -> list[dict]:
    """MAE, median predicted/experimental ratio and Spearman rank correlation, over all rows and per class.

    A systematic DFT bias shows in the ratio, which an MAE in log10 alone hides.
    """
    rows = []
    for cls, grp in [("all", df), *df.groupby("material_class")]:
        err = grp[pred_col] - grp["y_true_log10"]
        rho = spearmanr(grp[pred_col], grp["y_true_log10"]).statistic if len(grp) > 2 else np.nan
        rows.append(
            {
                "material_class": cls,
                "n": len(grp),
                "mae_log10": float(err.abs().mean()),
                "median_ratio_pred_exp": float(np.median(10**err)),
                "spearman": float(rho),
            }
        )
    return rows


def evaluate_experimental(
    model: str = "default", dataset: str = "expt-jarvis", *, correct: bool = False, out: Path | str | None = None
) -> dict[str, Any]:
    """Score a saved DFT-trained model against experiment; with ``correct``, after the leave-one-out correction.

    Crystals with an element the model never saw in training are predicted and listed, but not scored.
    """
    t0 = time.perf_counter()
    ds = load_dataset(dataset)
    path, directory = model_for_inputs(model, ds)
    est = Estimator.load(directory)
    manifest = read_manifest(directory)
    pred = est.predict(ds)
    seen = set(manifest.get("train", {}).get("elements", []))
    unseen = [sorted({e.symbol for e in c.elements} - seen) for c in ds.compositions]
    df = pd.DataFrame(
        {
            "id": ds.ids,
            "formula": ds.reduced_formulas,
            "fold": 0,
            "y_true_log10": ds.y_log10,
            "y_pred_log10": pred.mean_log10,
            "std_log10": np.nan,
            "lo90_log10": pred.lo90_log10 if pred.lo90_log10 is not None else np.nan,
            "hi90_log10": pred.hi90_log10 if pred.hi90_log10 is not None else np.nan,
            "material_class": [material_class(c) for c in ds.compositions],
            "in_domain": [not u for u in unseen],
            "note": [f"element(s) {', '.join(u)} not in the training data" if u else "" for u in unseen],
        }
    )
    dom = df[df["in_domain"]]  # scored rows; out-of-domain ones are listed, predicted, and not scored
    extra: dict[str, Any] = {
        "model_dir": str(directory),
        "path": path,
        "n_rejected_input": len(ds.report.rejected),
        "rejected_input": [p.line() for p in ds.report.rejected],
        "out_of_domain": df.loc[~df["in_domain"], ["id", "formula", "note"]].to_dict("records"),
        "per_class_uncorrected": class_metrics(dom, "y_pred_log10"),
        "per_class_uncorrected_incl_out_of_domain": class_metrics(df, "y_pred_log10"),
    }
    model_name = manifest["name"]
    if correct:
        pred, y = dom["y_pred_log10"].to_numpy(), dom["y_true_log10"].to_numpy()
        global_pred, global_info = loo_correction(pred, y)
        corrected, info = loo_correction(pred, y, dom["material_class"].to_numpy())
        df.loc[dom.index, "y_pred_global_corrected_log10"] = global_pred
        df.loc[dom.index, "y_pred_corrected_log10"] = corrected
        extra["correction"] = info
        extra["correction_global_only"] = global_info
        extra["per_class_corrected_global_only"] = class_metrics(df.loc[dom.index], "y_pred_global_corrected_log10")
        extra["per_class_corrected"] = class_metrics(df.loc[dom.index], "y_pred_corrected_log10")
        df.loc[dom.index, "lo90_log10"] = corrected - info["interval90_halfwidth_log10"]
        df.loc[dom.index, "hi90_log10"] = corrected + info["interval90_halfwidth_log10"]
        df["y_pred_uncorrected_log10"] = df["y_pred_log10"]
        df["y_pred_log10"] = df["y_pred_corrected_log10"]  # metrics below are the LOO-corrected ones
        model_name += "+expt-correction(LOO)"
    scored = df[df["in_domain"]]
    res = build_results(
        scored,
        dataset=ds.name,
        train_dataset=manifest.get("train", {}).get("dataset", "unknown"),
        split="none" if not correct else "leave-one-out",
        model=model_name,
        family=manifest["family"],
        wall_s=time.perf_counter() - t0,
        extra=extra,
    )
    if out is not None:
        write_results(res, scored, out)
        df.to_csv(Path(out).with_name(Path(out).stem + ".all_rows.csv"), index=False, float_format="%.5f")
    return res


@dataclass(frozen=True)
class ExperimentCorrection:
    """The class-aware DFT -> experiment map as a wrapper around any model's predictions (`--correct-to`)."""

    a: float
    b: float
    class_offsets: dict[str, float]
    q90: float
    loo_mae_log10: float
    n_fit: int

    @classmethod
    def fit(cls, model: str = "default", dataset: str = "expt-jarvis") -> ExperimentCorrection:
        c = evaluate_experimental(model, dataset, correct=True)["correction"]
        return cls(c["a"], c["b"], c["class_offsets"], c["interval90_halfwidth_log10"], c["loo_mae_log10"], c["n_fit"])

    def apply(self, pred_log10: np.ndarray, formulas: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Corrected log10 K and its 90 % interval (from the correction's own LOO residuals)."""
        offsets = np.array(
            [self.class_offsets.get(material_class(Composition(f)), 0.0) if f else 0.0 for f in formulas]
        )
        out = pred_log10 + self.a + self.b * (pred_log10 - 2.0) + offsets
        return out, out - self.q90, out + self.q90
