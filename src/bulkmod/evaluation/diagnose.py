"""The original project's root-cause analysis, automated.

From true and predicted moduli it decides whether a model ``collapsed`` to the mean, is ``clipped``
(stuck at a bound or predicting non-physical K <= 0), is ``biased``, or is ``ok``; with a saved model
it also reads the manifest and training log to name the ingredient that most likely caused it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bulkmod.errors import BulkmodError
from bulkmod.evaluation.metrics import regression_metrics

COLLAPSE_SPREAD = 0.3  # std(pred)/std(true) below this: the model has (nearly) stopped responding to input
COLLAPSE_R2 = 0.3
CLIP_FRACTION = 0.05  # this share of predictions piled on one value at the edge of the range
TYPICAL_K_GPA = 100.0  # order of magnitude of a solid's bulk modulus (Materials Project median ~85 GPa)
TRUE_COLS = ("y_true_log10", "y_true", "true", "target", "k_true", "y")
PRED_COLS = ("y_pred_log10", "y_pred", "pred", "prediction", "k_pred", "yhat")

FIXES = {
    "collapsed": [
        "train on log10(K) (the range 1-500 GPa spans 2.7 decades; MSE on raw GPa is dominated by stiff crystals)",
        "standardise the target with mean/std from the whole training set and save the transform with the model",
        "with SGD (the original CGCNN optimiser), standardise the target or use Adam(W), whose step does not "
        "grow with the size of the target",
        "train longer with early stopping on a validation split; watch the spread ratio of validation predictions",
        "compare with a descriptor baseline (bulkmod benchmark --model lgbm) to separate data from model problems",
    ],
    "clipped": [
        "predict log10(K): the inverse transform 10**y can never give K <= 0",
        "remove output clamps or activations (ReLU/sigmoid) that bound the final layer",
    ],
    "biased": [
        "check that train and test come from the same functional/source (PBE vs experiment vs JARVIS OptB88vdW)",
        "use a formula-grouped or out-of-distribution split to see whether the bias comes from a domain shift",
        "recalibrate: fit a linear correction on held-out residuals from the training data",
    ],
    "ok": [],
}


def _pick(df: pd.DataFrame, names: tuple[str, ...], path: Path, what: str) -> str:
    lower = {c.lower(): c for c in df.columns}
    for n in names:
        if n in lower:
            return lower[n]
    raise BulkmodError(f"{path}: no {what} column (expected one of {', '.join(names)})")


def read_predictions(path: Path | str, log10: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted K in GPa from a results predictions CSV or any CSV with true/pred columns."""
    path = Path(path)
    if not path.exists():
        raise BulkmodError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BulkmodError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    if df.empty:
        raise BulkmodError(f"{path}: no rows")
    t, p = _pick(df, TRUE_COLS, path, "true-value"), _pick(df, PRED_COLS, path, "prediction")
    is_log = log10 if log10 is not None else t.endswith("log10")
    y, yhat = pd.to_numeric(df[t], errors="coerce").to_numpy(), pd.to_numeric(df[p], errors="coerce").to_numpy()
    bad = ~np.isfinite(y) | ~np.isfinite(yhat)
    if bad.all():
        raise BulkmodError(f"{path}: no row has numeric {t} and {p}")
    if bad.any():
        raise BulkmodError(
            f"{path}: {bad.sum()} rows have missing or non-numeric values (first: row {np.argmax(bad) + 2})"
        )
    return (10.0**y, 10.0**yhat) if is_log else (y, yhat)


def diagnose(k_true: np.ndarray, k_pred: np.ndarray, model_dir: Path | str | None = None) -> dict[str, Any]:
    """Verdict, evidence, likely causes and fixes for predictions in GPa."""
    k_true, k_pred = np.asarray(k_true, float), np.asarray(k_pred, float)
    nonpos = k_pred <= 0
    log_t = np.log10(k_true)
    log_p = np.log10(np.where(nonpos, np.nan, k_pred))
    m = regression_metrics(log_t, log_p)
    ss = np.sum((k_true - k_true.mean()) ** 2)
    r2_gpa = float(1 - np.sum((k_true - k_pred) ** 2) / ss) if ss > 0 else float("nan")
    spread_gpa = float(np.std(k_pred) / np.std(k_true)) if np.std(k_true) > 0 else float("nan")
    span = np.ptp(k_pred)
    at_edge = max(
        np.mean(np.isclose(k_pred, k_pred.min(), atol=1e-6 * max(span, 1e-12))),
        np.mean(np.isclose(k_pred, k_pred.max(), atol=1e-6 * max(span, 1e-12))),
    )
    evidence = {
        "n": len(k_true),
        "r2_gpa": r2_gpa,
        "r2_log10": m.get("r2_log10"),
        "mae_gpa": float(np.mean(np.abs(k_pred - k_true))),
        "mae_log10": m.get("mae_log10"),
        "spread_ratio_gpa": spread_gpa,
        "spread_ratio_log10": m.get("spread_ratio"),
        "true_range_gpa": [float(k_true.min()), float(k_true.max())],
        "pred_range_gpa": [float(k_pred.min()), float(k_pred.max())],
        "bias_gpa": float(np.mean(k_pred - k_true)),
        "bias_log10": m.get("bias_log10"),
        "frac_nonpositive": float(nonpos.mean()),
        "frac_at_range_edge": float(at_edge),
    }
    causes: list[str] = []
    spread = spread_gpa if np.isfinite(spread_gpa) else 0.0
    if spread < COLLAPSE_SPREAD or (r2_gpa < COLLAPSE_R2 and np.ptp(k_pred) < COLLAPSE_SPREAD * np.ptp(k_true)):
        verdict = "collapsed"
        causes.append(
            f"predictions span {k_pred.min():.0f}-{k_pred.max():.0f} GPa while the truth spans "
            f"{k_true.min():.0f}-{k_true.max():.0f} GPa (spread ratio {spread:.2f}, R^2 {r2_gpa:.3f}): "
            "the model predicts (nearly) the mean for every crystal"
        )
    elif nonpos.any() or (at_edge > CLIP_FRACTION and len(k_pred) >= 20):
        verdict = "clipped"
        if nonpos.any():
            causes.append(
                f"{nonpos.sum()} predictions are K <= 0 GPa (non-physical; raw-GPa regression without a floor)"
            )
        if at_edge > CLIP_FRACTION:
            causes.append(
                f"{at_edge:.0%} of predictions sit on one value at the edge of their range "
                "(a clamp or a saturated output)"
            )
    else:
        err = log_p - log_t
        se = np.nanstd(err) / np.sqrt(max(np.isfinite(err).sum(), 1))
        bias = evidence["bias_log10"] or 0.0
        if abs(bias) > 0.5 * (evidence["mae_log10"] or np.inf) and abs(bias) > 3 * se:
            verdict = "biased"
            causes.append(
                f"systematic {'over' if bias > 0 else 'under'}-prediction by {abs(bias):.3f} log10 "
                f"({(10 ** abs(bias) - 1) * 100:.0f} %) on average"
            )
        else:
            verdict = "ok"
    out = {"verdict": verdict, "evidence": evidence, "causes": causes, "fixes": list(FIXES[verdict])}
    if model_dir is not None:
        found = model_causes(Path(model_dir))
        out["model_causes"] = found
        if verdict != "ok":
            out["causes"] += found
    return out


def model_causes(directory: Path) -> list[str]:
    """Name training ingredients known to produce a collapse, from the manifest and training log."""
    from bulkmod.models.safety import read_manifest

    manifest = read_manifest(directory)
    cfg = manifest.get("config", {})
    found = []
    tf = cfg.get("transform") or {}
    if tf.get("space") == "gpa" and not tf.get("standardize", True):
        found.append(
            "target is raw GPa with no normalisation: the output layer must learn a ~100 GPa offset "
            "and the loss gradient is dominated by stiff crystals"
        )
    n_fit = tf.get("n_fit")
    if n_fit is not None and n_fit < 100:
        found.append(f"target normaliser fitted on only {n_fit} samples: its mean/std are noisy estimates")
    if cfg.get("loss") == "mse" and tf.get("space") == "gpa":
        found.append("MSE on raw GPa: errors on stiff crystals (K > 200 GPa) dominate the loss")
    sgd = _sgd_step(cfg)
    if sgd is not None:
        found.append(sgd)
    log_path = directory / "train_log.csv"
    if log_path.exists():
        log = pd.read_csv(log_path)
        epochs = int(log["epoch"].max()) + 1 if "epoch" in log else len(log)
        if "val_spread" in log and len(log) and log["val_spread"].iloc[-1] < COLLAPSE_SPREAD:
            found.append(
                f"validation spread ratio ended at {log['val_spread'].iloc[-1]:.2f} after {epochs} epochs "
                "(the network's output barely varies between crystals)"
            )
        if "train_loss" in log and len(log) >= 4:
            last = log["train_loss"].to_numpy()
            if last[-1] < 0.9 * last[-4]:
                found.append(f"training loss still falling at the last of {epochs} epochs: too few epochs")
    return found


def _sgd_step(cfg: dict[str, Any]) -> str | None:
    """Plain SGD's step grows with the loss gradient, i.e. with the target's size; Adam's does not.

    MSE's gradient at the output is 2 (yhat - y), ~2 x 100 GPa for an unnormalised GPa target at initialisation
    (outputs near 0); momentum m amplifies a steady gradient by 1 / (1 - m). When lr times that exceeds 1, one
    update moves a weight further than its whole initial scale (PyTorch initialises weights below 1 in magnitude):
    the weights blow up, the softplus hidden units are driven to exactly 0 and the output is the constant bias.
    """
    # training options: top-level in a manifest's config since they were typed, inside its params before
    params = (cfg.get("params") or {}) | cfg
    if params.get("optimizer") != "sgd" or cfg.get("lr") is None:
        return None
    tf = cfg.get("transform") or {}
    scale = 1.0 if tf.get("standardize", True) else TYPICAL_K_GPA if tf.get("space") == "gpa" else 2.0
    loss = cfg.get("loss", "mse")
    grad = 2 * scale if loss == "mse" else float(params.get("huber_delta", 1.0)) if loss == "huber" else 1.0
    momentum = float(params.get("momentum", 0.9))
    step = cfg["lr"] * grad / (1 - momentum)
    if step <= 1:
        return None
    target = "raw GPa, not normalised" if scale == TYPICAL_K_GPA else "log10, not standardised"
    return (
        f"SGD (lr {cfg['lr']}, momentum {momentum}) on a target in {target}: the {loss.upper()} gradient at the "
        f"output is ~{grad:.0f}, so a momentum step moves a weight by ~{step:.0f}, more than its whole initial scale; "
        "the weights blow up, the softplus hidden units go flat and the output is a constant (its bias)"
    )


def diagnose_to_json(result: dict[str, Any]) -> str:
    """The diagnosis as indented JSON; NumPy scalars in it are written as plain floats."""
    return json.dumps(result, indent=2, default=float)
