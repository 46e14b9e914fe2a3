"""Why the cross-fitted lgbm ensemble under-covers ood-elastic2015, and whether a consistent spread fixes it.

    python benchmarks/exploration/ensemble_spread.py            # investigation, not a benchmark

The cross-fitted ensemble calibrates on its members' out-of-fold (OOF) mixture: each member's OOF prediction
of a row comes from one of its inner-fold models (trained on 80 % of the rows, on a split that differs by
member), so the members' disagreement at calibration is that of models trained on *different* subsets. At
test time the members are the final models, all trained on *the same* rows (only the seed differs), so their
disagreement is far smaller and the interval shrinks: the calibrated scale is not the one used at test.

Candidates, each calibrated on the training rows' OOF residuals only (the ood and fold-0 test crystals are
scored, never used to choose):

- ``mixture``: the shipped design, sqrt(mean member sigma^2 + variance of the final members);
- ``inner-mixture``: the same at calibration, but at test the variance is over the members' inner-fold
  models (5 per member), which are trained on different 80 % subsets like the OOF predictions were;
- ``inner-spread``: the disagreement alone (std of the OOF predictions at calibration, of the inner models
  at test), no member sigma.

Runs on ood-elastic2015 (train on all of mp-binary-2025) and on kfold fold 0 (in distribution). Writes
``benchmarks/results/ensemble_spread/ensemble_spread_exploration.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

import bulkmod.models.descriptor as descriptor
from bulkmod.data import load_dataset
from bulkmod.data.splits import make_split
from bulkmod.evaluation.metrics import K_BIN_LABELS, k_bin_masks
from bulkmod.features import featurize
from bulkmod.models import build_model
from bulkmod.provenance import command_line, git_commit, machine
from bulkmod.uncertainty.conformal import ConformalInterval
from bulkmod.uncertainty.constants import Z90

OUT = Path(__file__).resolve().parents[1] / "results" / "ensemble_spread" / "ensemble_spread_exploration.json"
MEMBERS = 5
INNER = 5


def fit_members(train: Any) -> list[tuple[Any, list[Any]]]:
    """Five cross-fitted lgbm members (seeds 0-4, as the ensemble builds them), each with its inner boosters."""
    made: list[tuple[bool, Any]] = []
    original = descriptor.make_booster

    def spy(backend: str, params: dict, seed: int) -> Any:
        booster = original(backend, params, seed)
        made.append((params is descriptor.SIGMA_PARAMS, booster))
        return booster

    descriptor.make_booster = spy
    try:
        out = []
        for seed in range(MEMBERS):
            made.clear()
            model = build_model("lgbm", inner_folds=INNER, seed=seed).fit(train, train.y_log10)
            inner = [b for is_sigma, b in made if not is_sigma][:INNER]
            out.append((model, inner))
        return out
    finally:
        descriptor.make_booster = original


def score(name: str, cal: ConformalInterval, mean: np.ndarray, std: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    lo, hi = cal.bounds(mean, scale=std)
    inside = (y >= lo) & (y <= hi)
    err = np.abs(mean - y)
    bins = {lab: round(float(inside[m].mean()), 3) if m.any() else None
            for lab, m in zip(K_BIN_LABELS, k_bin_masks(y), strict=True)}  # fmt: skip
    return {
        "variant": name,
        "mae_log10": round(float(err.mean()), 5),
        "coverage_90": round(float(inside.mean()), 4),
        "mean_width90_log10": round(float(np.mean(hi - lo)), 4),
        "width_p10_p90": [round(float(v), 4) for v in np.percentile(hi - lo, [10, 90])],
        "spearman_abs_err_std": round(float(spearmanr(err, std).statistic), 3),
        "coverage_per_k_bin": bins,
    }


def run(split: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    fold = make_split(split, load_dataset("mp-binary-2025"), 5)[0]
    train, test = fold.train, fold.test
    members = fit_members(train)
    y, yt = train.y_log10, test.y_log10
    oof = np.stack([m.oof_log10 for m, _ in members])
    oof_sd = np.stack([m.oof_std_log10 for m, _ in members])
    preds = [m.predict(test) for m, _ in members]
    final = np.stack([p.mean_log10 for p in preds])
    final_sd = np.stack([p.std_log10 for p in preds])
    Xt = [featurize(test, m.features)[0] for m, _ in members]
    inner = np.stack([m.transform.inverse(b.predict(x)) for (m, bs), x in zip(members, Xt, strict=True) for b in bs])
    mean = final.mean(0)
    own_cal, own_test = np.mean(oof_sd**2, 0), np.mean(final_sd**2, 0)
    scales = {
        "mixture": (np.sqrt(own_cal + oof.var(0)), np.sqrt(own_test + final.var(0))),
        "inner-mixture": (np.sqrt(own_cal + oof.var(0)), np.sqrt(own_test + inner.var(0))),
        "inner-spread": (oof.std(0), inner.std(0)),
    }
    variants = []
    for name, (s_cal, s_test) in scales.items():
        cal = ConformalInterval.normalised(oof.mean(0) - y, s_cal)
        variants.append(score(name, cal, mean, s_test, yt))
    spread = {
        "oof_members_std_median": float(np.median(oof.std(0))),
        "final_members_std_median": float(np.median(final.std(0))),
        "inner_models_std_median": float(np.median(inner.std(0))),
        "member_own_std_median_cal": float(np.median(np.sqrt(own_cal))),
        "member_own_std_median_test": float(np.median(np.sqrt(own_test))),
    }
    member_mae = [round(float(np.mean(np.abs(f - yt))), 5) for f in final]
    return {"split": split, "fold": 0, "n_train": len(train), "n_test": len(test), "member_mae_log10": member_mae,
            "spread": spread, "variants": variants, "wall_s": round(time.perf_counter() - t0, 1),
            "z90": Z90}  # fmt: skip


def main() -> None:
    out = {"command": command_line(), "commit": git_commit(), "machine": machine(), "runs": []}
    for split in ("ood-elastic2015", "kfold"):
        out["runs"].append(run(split))
        OUT.write_text(json.dumps(out, indent=1) + "\n")
        print(json.dumps(out["runs"][-1], indent=1), flush=True)


if __name__ == "__main__":
    main()
