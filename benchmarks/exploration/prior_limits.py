"""Where the zero-shot prior's remaining error sits, and what the issue-18 targets still missing would take.

    python benchmarks/exploration/prior_limits.py calibration
    python benchmarks/exploration/prior_limits.py push-calibration
    python benchmarks/exploration/prior_limits.py internal-strain [--potential sevennet-mf-0]
    python benchmarks/exploration/prior_limits.py relaxed [--potential sevennet-mf-0] [--n 6]
    python benchmarks/exploration/prior_limits.py features
    python benchmarks/exploration/prior_limits.py scan-floor [--n 96]

Each part writes ``benchmarks/results/prior_limits/prior_limits_<part>_exploration.json`` (command, commit,
machine, load average):

- ``calibration``: from the committed zero-shot predictions of ``benchmarks/physics_prior.py`` (mp-binary-2025,
  5-fold), maps of log10 K fitted on each training fold and scored on its test fold: the median shift
  (``calibration=offset``), a median (quantile) regression line, a Huber line, and the mean log10 K of two or
  three SevenNet checkpoints with the median shift; then where the GPa error of the best single-potential
  calibration sits (per true-K bin, its largest errors).
- ``push-calibration``: can the calibration reach the issue's 12 GPa if it also knows how hard a strain pushes
  the ions (``umlip-ions``, MF-0)? log10 K = log10 K_uMLIP + a Huber line in the log push and a held-by-symmetry
  indicator, fitted on the same training folds, beside the plain offset; the push is the only input that does
  not come from the E–V scan, and it comes from the same potential.
- ``internal-strain``: the clamped scan strains a crystal at fixed fractional coordinates. Where symmetry fixes
  every atom's position that is exact for the ions; where it does not, the strained copy carries forces that a
  relaxation would follow. This part measures them (:mod:`bulkmod.physics.internal_strain`) for every
  mp-binary-2025 crystal, and splits the zero-shot error (offset-calibrated, out of fold) by whether the ions
  feel the strain.
- ``relaxed``: the SiO2 polymorphs of mp-binary-2025 (the ``n`` smallest cells), clamped scan against
  ``protocol=relaxed`` (cell shape and ions relaxed at every volume), with the seconds each costs, no cache.
- ``features``: can the default recipe's structure rows reach the issue's 0.040 on the 2025 binaries by a
  second potential's E–V features, by how hard a strain pushes the ions (``umlip-ions``) or only how many
  coordinates symmetry leaves free, or by averaging LightGBM seeds? A simplified, side-by-side stand-in for the
  routed model's structure member: one LightGBM (its settings, Huber 0.15) per outer fold of mp-kvrh-all's kfold
  split, early-stopped on a fixed 20 % of the training rows, on the 5,209 rows with a structure, the same folds
  and validation rows for every variant.
- ``scan-floor``: how far is the issue's 0.03 s/crystal scan from the networks' own arithmetic? For ``n`` seeded
  mp-binary-2025 crystals (primitive cells, seven strained copies each, one core), the seconds per crystal of the
  scan's energy call with inputs built on the way, beside the forward passes alone on inputs built beforehand
  (CHGNet's shared graphs; SevenNet's collated batches, at most 64 atoms). Best of three passes each.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bulkmod.io import write_json_atomic
from bulkmod.models.umlip import apply_calibration, fit_calibration
from bulkmod.provenance import command_line, git_commit, load_average, machine
from bulkmod.uncertainty.crossfit import cross_fit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "prior_limits"
PRIOR = ROOT / "results" / "physics_prior"
SEVENNETS = ("sevennet", "sevennet-l3i5", "sevennet-mf-0")
K_BINS = [0, 10, 30, 100, 200, np.inf]


def _zero_shot(potential: str) -> pd.DataFrame:
    """The committed out-of-fold zero-shot predictions of ``potential`` on mp-binary-2025 (indexed by id)."""
    return pd.read_csv(PRIOR / f"mp-binary-2025_umlip-eos-{potential}_kfold.predictions.csv").set_index("id")


def _map(kind: str, k: np.ndarray, y: np.ndarray):
    """A map log10 K_uMLIP -> log10 K fitted on (k, y); ``offset`` is the shipped ``calibration=offset``."""
    if kind == "offset":
        shift = fit_calibration("offset", k, y)
        return lambda x: apply_calibration(shift, x)
    from sklearn.linear_model import HuberRegressor, QuantileRegressor

    line = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs") if kind == "median-line" else HuberRegressor()
    line.fit(k[:, None], y)
    return lambda x: line.predict(x[:, None])


def _cross_fitted(kind: str, k: np.ndarray, y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Each crystal with a K mapped by ``kind`` fitted on the other folds (the committed runs' own folds)."""
    ok = np.isfinite(k)
    folds = [(np.flatnonzero(ok & (fold != f)), np.flatnonzero(ok & (fold == f))) for f in np.unique(fold)]
    return cross_fit(folds, len(y), lambda _, train, test: _map(kind, k[train], y[train])(k[test]))


def _scores(pred: np.ndarray, y: np.ndarray) -> dict:
    ok = np.isfinite(pred)
    return {
        "n": int(ok.sum()),
        "mae_gpa": round(float(np.mean(np.abs(10 ** pred[ok] - 10 ** y[ok]))), 2),
        "mae_log10": round(float(np.mean(np.abs(pred[ok] - y[ok]))), 4),
    }


def calibration() -> dict:
    frames = {p: _zero_shot(p) for p in SEVENNETS}
    base = frames["sevennet-l3i5"]
    y, fold = base["y_true_log10"].to_numpy(), base["fold"].to_numpy()
    raw = {p: f.reindex(base.index)["y_pred_log10"].to_numpy() for p, f in frames.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a crystal no potential could fit stays NaN
        raw["mean of sevennet-l3i5, sevennet-mf-0"] = np.nanmean([raw["sevennet-l3i5"], raw["sevennet-mf-0"]], 0)
        raw["mean of all three SevenNets"] = np.nanmean([raw[p] for p in SEVENNETS], 0)
    runs = {
        name: {"zero-shot": _scores(k, y)}
        | {kind: _scores(_cross_fitted(kind, k, y, fold), y) for kind in ("offset", "median-line", "huber")}
        for name, k in raw.items()
    }
    best = _cross_fitted("offset", raw["sevennet-l3i5"], y, fold)
    ok = np.isfinite(best)
    err = np.abs(10**best - 10**y)
    true_k = 10**y
    by_bin = {
        f"{lo}-{hi}": {
            "n": int(m.sum()),
            "mae_gpa": round(float(err[m].mean()), 2),
            "share_of_error": round(float(err[m].sum() / err[ok].sum()), 3),
        }
        for lo, hi in itertools.pairwise(K_BINS)
        if (m := ok & (true_k > lo) & (true_k <= hi)).any()
    }
    order = np.argsort(-np.where(ok, err, -1))
    ranked = np.sort(err[ok])[::-1]
    return {
        "runs": runs,
        "offset_sevennet_l3i5": {
            "by_true_k_gpa": by_bin,
            "share_of_error_top": {
                f"{q:.0%}": round(float(ranked[: int(len(ranked) * q)].sum() / ranked.sum()), 3)
                for q in (0.01, 0.05, 0.1)
            },
            "largest_errors": [
                {
                    "id": base.index[i],
                    "formula": base["formula"].iloc[i],
                    "k_dft": round(float(true_k[i]), 1),
                    "k_pred": round(float(10 ** best[i]), 1),
                }
                for i in order[:25]
            ],
        },
    }


def push_calibration() -> dict:
    from sklearn.linear_model import HuberRegressor

    from bulkmod.data import load_dataset
    from bulkmod.physics.features import ION_FLOOR, ion_strain_features

    ds = load_dataset("mp-binary-2025")
    log_push = ion_strain_features(ds.structures, "sevennet-mf-0", progress=False)[:, 0]
    held = log_push <= np.log10(ION_FLOOR)
    # a crystal without a push (NaN: too large for a force call) is taken as a typical pushed one
    push = np.where(held, 0.0, np.where(np.isfinite(log_push), log_push, np.nanmedian(log_push[~held])))
    Z = np.c_[push, held]
    frames = {p: _zero_shot(p).reindex(ds.ids) for p in ("sevennet-l3i5", "sevennet-mf-0")}
    y, fold = frames["sevennet-mf-0"]["y_true_log10"].to_numpy(), frames["sevennet-mf-0"]["fold"].to_numpy()
    raw = {p: f["y_pred_log10"].to_numpy() for p, f in frames.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        raw["mean of sevennet-l3i5, sevennet-mf-0"] = np.nanmean(list(raw.values()), 0)

    def with_push(k: np.ndarray) -> np.ndarray:
        ok = np.isfinite(k)
        folds = [(np.flatnonzero(ok & (fold != f)), np.flatnonzero(ok & (fold == f))) for f in np.unique(fold)]

        def fit(_, train, test):
            line = HuberRegressor(max_iter=500).fit(Z[train], y[train] - k[train])
            return k[test] + line.predict(Z[test])

        return cross_fit(folds, len(y), fit)

    runs = {
        name: {"offset": _scores(_cross_fitted("offset", k, y, fold), y), "offset + push": _scores(with_push(k), y)}
        for name, k in raw.items()
    }
    return {"n_held": int(held.sum()), "n_no_push": int(np.isnan(log_push).sum()), "runs": runs}


def internal_strain(potential: str) -> dict:
    from bulkmod.data import load_dataset
    from bulkmod.physics.internal_strain import HELD_BY_SYMMETRY, STRAIN, ion_strain_force
    from bulkmod.physics.potentials import get_potential

    ds = load_dataset("mp-binary-2025")
    pot = get_potential(potential)
    t = time.perf_counter()
    force = np.array([ion_strain_force(s, pot) for s in ds.structures])
    seconds = time.perf_counter() - t
    zs = _zero_shot(potential).reindex(ds.ids)
    y, fold = zs["y_true_log10"].to_numpy(), zs["fold"].to_numpy()
    pred = _cross_fitted("offset", zs["y_pred_log10"].to_numpy(), y, fold)
    true_k = 10**y
    groups = {}
    for name, m in (
        ("ions fixed by symmetry", force < HELD_BY_SYMMETRY),
        ("ions pushed by the strain", force >= HELD_BY_SYMMETRY),
    ):
        groups[name] = _scores(pred[m], y[m]) | {
            f"mae_log10 K {lo}-{hi}": round(float(np.nanmean(np.abs(pred[b] - y[b]))), 4)
            for lo, hi in itertools.pairwise(K_BINS)
            if (b := m & (true_k > lo) & (true_k <= hi)).sum() >= 5
        }
    return {
        "potential": potential,
        "strain": STRAIN,
        "threshold_ev_per_a": HELD_BY_SYMMETRY,
        "groups": groups,
        "seconds_per_crystal": round(seconds / len(ds), 4),
    }


def relaxed(potential: str, n: int) -> dict:
    from bulkmod.data import load_dataset
    from bulkmod.physics.eos import ScanConfig
    from bulkmod.physics.potentials import get_potential
    from bulkmod.physics.protocols import k_results

    ds = load_dataset("mp-binary-2025")
    pick = sorted(
        (i for i, c in enumerate(ds.compositions) if c.reduced_formula == "SiO2"),
        key=lambda i: (len(ds.structures[i]), ds.ids[i]),
    )[:n]
    pot = get_potential(potential)
    rows = []
    for i in pick:
        row = {"id": ds.ids[i], "sites": len(ds.structures[i]), "k_dft": round(float(ds.k_vrh[i]), 1)}
        for protocol in ("clamped", "relaxed"):
            t = time.perf_counter()
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                r = k_results([ds.structures[i]], pot, ScanConfig(protocol=protocol))[0]
            row |= {
                f"{protocol}_k": round(r.k0_gpa, 1),
                f"{protocol}_flag": r.flag,
                f"{protocol}_s": round(time.perf_counter() - t, 2),
            }
        rows.append(row)
        print(row, flush=True)
    return {"potential": potential, "rows": rows}


def features(seeds: int = 5) -> dict:
    import lightgbm as lgb

    from bulkmod.data import load_dataset
    from bulkmod.data.splits import kfold
    from bulkmod.data.symmetry import free_coordinates, primitive_cell
    from bulkmod.features.featurizer import FeatureConfig, featurize
    from bulkmod.models.boosters import LightGBMBooster
    from bulkmod.models.umlip import HYBRID_FEATURES
    from bulkmod.physics.features import eos_features, ion_strain_features

    ds = load_dataset("mp-kvrh-all")
    folds = kfold(ds)
    rows = np.flatnonzero(ds.structure_mask)
    sub = ds.subset(rows)
    X, _ = featurize(sub, FeatureConfig.from_dict(HYBRID_FEATURES | {"potential": "sevennet-mf-0"}))
    chgnet = eos_features(sub.row_structures, "chgnet", progress=False)
    ions = ion_strain_features(sub.row_structures, "sevennet-mf-0", progress=False)
    free = np.array([[free_coordinates(primitive_cell(s))] for s in sub.row_structures], dtype=float)
    y = sub.y_log10
    mu, sd = y.mean(), y.std()
    fold_of = np.full(len(ds), -1)
    for f, fold in enumerate(folds.folds):
        fold_of[fold.test_rows] = f
    fold_of = fold_of[rows]
    source = sub.meta["k_source"].to_numpy()
    params = LightGBMBooster({"objective": "huber", "alpha": 0.15}, seed=0).params | {"num_threads": 1}
    variants = {
        "sevennet-mf-0 E-V features (the default's)": (X, 1),
        "+ CHGNet's E-V features": (np.hstack([X, chgnet]), 1),
        "+ the ion strain force (umlip-ions)": (np.hstack([X, ions]), 1),
        "+ the number of free coordinates": (np.hstack([X, free]), 1),
        f"sevennet-mf-0, mean of {seeds} LightGBM seeds": (X, seeds),
    }
    out = {}
    for name, (M, n_seeds) in variants.items():
        pred = np.full(len(y), np.nan)
        t = time.perf_counter()
        for f in range(len(folds.folds)):
            train = np.random.default_rng(f).permutation(np.flatnonzero(fold_of != f))
            val, train = train[: len(train) // 5], train[len(train) // 5 :]
            test = fold_of == f
            runs = []
            for seed in range(n_seeds):
                dtrain = lgb.Dataset(M[train], (y[train] - mu) / sd)
                dval = lgb.Dataset(M[val], (y[val] - mu) / sd, reference=dtrain)
                booster = lgb.train(
                    params | {"seed": seed},
                    dtrain,
                    20000,
                    valid_sets=[dval],
                    callbacks=[lgb.early_stopping(200, verbose=False)],
                )
                runs.append(booster.predict(M[test], num_iteration=booster.best_iteration) * sd + mu)
            pred[test] = np.mean(runs, axis=0)
        err = np.abs(pred - y)
        out[name] = (
            {"mae_log10 structure rows": round(float(err.mean()), 4)}
            | {f"mae_log10 {s}": round(float(err[source == s].mean()), 4) for s in pd.unique(source)}
            | {"seconds": round(time.perf_counter() - t)}
        )
        print(name, out[name], flush=True)
    return {"n_rows": len(y), "variants": out}


def scan_floor(n: int) -> dict:
    import random

    import torch
    from torch_geometric.loader.dataloader import Collater

    from bulkmod.data import load_dataset
    from bulkmod.data.symmetry import primitive_cell
    from bulkmod.physics.potentials import atom_batches, get_potential, strained

    torch.set_num_threads(1)
    ds = load_dataset("mp-binary-2025")
    cells = [primitive_cell(ds.structures[i]) for i in random.Random(0).sample(range(len(ds)), n)]
    ratios = np.linspace(0.94, 1.06, 7)
    jobs = [(c, ratios) for c in cells]

    def best(call) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        return min(times) / n

    out = {}
    for name in ("chgnet", "sevennet-mf-0"):
        pot = get_potential(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whole = best(lambda pot=pot: pot.strained_energies(jobs))
            if name == "chgnet":
                graphs = [g for c in cells for g in pot._strained_graphs(c, ratios)]
                sizes = [len(c) for c in cells for _ in ratios]
                forward = best(lambda pot=pot, g=graphs, s=sizes: pot._predict(g, s, False))
            else:
                collate = Collater([], follow_batch=None, exclude_keys=None)
                copies = [pot._graph(strained(c, r)) for c in cells for r in ratios]
                batches = [collate(group) for group in atom_batches(copies, size=lambda g: int(g["num_atoms"]))]

                def run(pot=pot, batches=batches):
                    with torch.inference_mode():
                        for b in batches:
                            pot._energy_model(b.clone())

                forward = best(run)
        out[name] = {
            "scan_energy_call_s_per_crystal": round(whole, 4),
            "forward_only_s_per_crystal": round(forward, 4),
            "forward_share": round(forward / whole, 2),
        }
        print(name, out[name], flush=True)
    return {"n": n, "points": len(ratios), "target_s_per_crystal": 0.03, "potentials": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = ("calibration", "push-calibration", "internal-strain", "relaxed", "features", "scan-floor")
    ap.add_argument("part", choices=parts)
    ap.add_argument("--potential", default="sevennet-mf-0", choices=SEVENNETS)
    ap.add_argument("--n", type=int, help="crystals: relaxed 6, scan-floor 96")
    args = ap.parse_args()
    result = {
        "calibration": calibration,
        "push-calibration": push_calibration,
        "internal-strain": lambda: internal_strain(args.potential),
        "relaxed": lambda: relaxed(args.potential, args.n or 6),
        "features": features,
        "scan-floor": lambda: scan_floor(args.n or 96),
    }[args.part]()
    out = result | {
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "load_avg_end": load_average(),
    }
    path = RESULTS / f"prior_limits_{args.part}_exploration.json"
    write_json_atomic(path, out)
    print(path)


if __name__ == "__main__":
    main()
