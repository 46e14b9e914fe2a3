"""Physics prior (issue 4): E–V scan speed, and zero-shot / hybrid / delta models against descriptors.

    python benchmarks/umlip.py speed            # s/crystal: plain vs bracketed scan, batched vs one per call
    python benchmarks/umlip.py models [--only NAME ...] [--force]
    python benchmarks/umlip.py summary          # rebuild umlip.md from the JSON files

Each model run writes ``benchmarks/results/umlip/<name>.json`` (bulkmod-results/1) + predictions and is skipped
when its JSON exists, so a killed session loses at most one run. The potential's features are cached on disk
(``$BULKMOD_CACHE/physics.sqlite``), so the first run pays for the E–V scans once.
The descriptor rows are the foundation's committed ``descriptor_models/mp-binary-2025_lgbm_*`` runs (same folds,
same samples).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from bulkmod.data import load_dataset
from bulkmod.evaluation.benchmark import limit_rows, run_benchmark
from bulkmod.features.featurizer import DEFAULT_STRUCTURE_GROUPS, FeatureConfig
from bulkmod.io import write_json_atomic
from bulkmod.physics.potentials import Potential
from bulkmod.provenance import command_line, git_commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "umlip"
SPLITS = ("kfold", "formula-grouped", "ood-elastic2015")
NESTED = {"inner_folds": 5}
EMBED = {"features": FeatureConfig((*DEFAULT_STRUCTURE_GROUPS, "umlip-eos", "umlip-embed")).as_dict()}
# the E-V features from the volume-invariant scan (issue 18): does the hybrid gain from them?
EQUILIBRIUM = {"features": FeatureConfig((*DEFAULT_STRUCTURE_GROUPS, "umlip-eos"), eos_centre="equilibrium").as_dict()}
# the same hybrid on another potential's E-V features (issue 18 item 2: pick the potential by evidence)
OTHER_POTENTIALS = ("sevennet", "sevennet-mf-0", "sevennet-l3i5")
ON_POTENTIAL = {
    pot: {"features": FeatureConfig((*DEFAULT_STRUCTURE_GROUPS, "umlip-eos"), potential=pot).as_dict()}
    for pot in OTHER_POTENTIALS
}
# MF-0's hybrid told how hard a strain pushes each crystal's ions (umlip-ions): where the clamped K is too stiff
IONS_GROUPS = (*DEFAULT_STRUCTURE_GROUPS, "umlip-eos", "umlip-ions")
IONS = {"features": FeatureConfig(IONS_GROUPS, potential="sevennet-mf-0").as_dict()}
# + the clamped K less the ions' harmonic softening (protocol=harmonic-ions)
RELAXED = {"features": FeatureConfig((*IONS_GROUPS, "umlip-relaxed"), potential="sevennet-mf-0").as_dict()}
# label -> (registry key, config); the *-embed variants add CHGNet's 64-d crystal embedding
MODELS = {
    "umlip-eos": ("umlip-eos", {}),
    "umlip-hybrid": ("umlip-hybrid", NESTED),
    "umlip-delta": ("umlip-delta", NESTED),
    "umlip-blend": ("umlip-blend", {}),
    "umlip-hybrid-embed": ("umlip-hybrid", NESTED | EMBED),
    "umlip-delta-embed": ("umlip-delta", NESTED | EMBED),
    "umlip-hybrid-equilibrium": ("umlip-hybrid", NESTED | EQUILIBRIUM),
    **{f"umlip-hybrid-{pot}": ("umlip-hybrid", NESTED | cfg) for pot, cfg in ON_POTENTIAL.items()},
    "umlip-hybrid-sevennet-mf-0-ions": ("umlip-hybrid", NESTED | IONS),
    "umlip-hybrid-sevennet-mf-0-relaxed": ("umlip-hybrid", NESTED | RELAXED),
}
# in priority order: a session that ends early still has the runs that decide the targets
ORDER = [("umlip-hybrid", "kfold"), ("umlip-hybrid", "ood-elastic2015"), ("umlip-delta", "ood-elastic2015"),
         ("umlip-blend", "kfold"), ("umlip-blend", "ood-elastic2015"), ("umlip-eos", "kfold"),
         ("umlip-eos", "ood-elastic2015"), ("umlip-hybrid", "formula-grouped"), ("umlip-delta", "kfold"),
         ("umlip-eos", "formula-grouped"), ("umlip-blend", "formula-grouped"), ("umlip-delta", "formula-grouped"),
         *((f"{m}-embed", s) for m in ("umlip-hybrid", "umlip-delta") for s in SPLITS),
         ("umlip-hybrid-equilibrium", "kfold"), ("umlip-hybrid-equilibrium", "ood-elastic2015"),
         *((f"umlip-hybrid-{pot}", s) for pot in OTHER_POTENTIALS for s in ("kfold", "ood-elastic2015")),
         *(("umlip-hybrid-sevennet-mf-0-ions", s) for s in ("kfold", "ood-elastic2015")),
         *(("umlip-hybrid-sevennet-mf-0-relaxed", s) for s in ("kfold", "ood-elastic2015"))]  # fmt: skip
RUNS = {f"mp-binary-2025_{label}_{s}": (*MODELS[label], s) for label, s in ORDER}
BASELINE = "lgbm"  # committed by the foundation with the same folds
BASELINE_RESULTS = RESULTS.parent / "descriptor_models"
GNN_RESULTS = RESULTS.parent / "gnn_ablation"
# other families on the same folds, for reference: prediction file per split, column holding the prediction
REFERENCES = {
    "graph: hybrid GNN, 30 epochs": ({"kfold": GNN_RESULTS / "gnn_8_limitall_ep30_k5"}, "y_pred_log10"),
    "graph: cgcnn, 30 epochs": ({"kfold": GNN_RESULTS / "gnn_3_limitall_ep30_k5"}, "y_pred_log10"),
    "CHGNet atom features + trained head": (
        {s: RESULTS.parent / "chgnet_head" / f"chgnet_head_{s}" for s in SPLITS},
        "head-select",
    ),
}
BINS = [(0, 10), (10, 30), (30, 100), (100, 200), (200, 1e9)]


class _OneAtATime:
    """The same potential called once per strained copy: the unbatched baseline."""

    def __init__(self, pot) -> None:
        self.pot, self.name = pot, pot.name

    def energies(self, structures) -> np.ndarray:
        return np.concatenate([self.pot.energies([s]) for s in structures])

    strained_energies = Potential.strained_energies  # the base route: every copy through ``energies``


def speed(n: int = 192, block: int = 48) -> dict:
    """Seconds per crystal on the same crystals. Variants are interleaved block by block (rotating order) and
    the median over blocks is reported, so a change in machine load hits every variant alike."""
    os.environ["BULKMOD_CACHE"] = tempfile.mkdtemp(prefix="bulkmod-umlip-speed-")
    from bulkmod.physics.eos import ScanConfig, scan_eos
    from bulkmod.physics.potentials import get_potential

    ds = limit_rows(load_dataset("mp-binary-2025"), n)
    pot = get_potential("chgnet")
    pot.energies(ds.structures[:4])  # warm-up: first call pays for lazy imports
    variants = {
        "plain 7-point, batched": (ScanConfig(max_recentre=0), pot),
        "bracketed + re-centred, batched": (ScanConfig(), pot),
        "plain 7-point, one structure per call": (ScanConfig(max_recentre=0), _OneAtATime(pot)),
        "bracketed + re-centred, one structure per call": (ScanConfig(), _OneAtATime(pot)),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    usable: dict[str, list[bool]] = {k: [] for k in variants}
    for b, start in enumerate(range(0, len(ds), block)):
        chunk = ds.structures[start : start + block]
        labels = list(variants)
        for label in labels[b % len(labels) :] + labels[: b % len(labels)]:
            cfg, p = variants[label]
            t = time.perf_counter()
            res = scan_eos(chunk, p, cfg, progress=False)
            times[label].append((time.perf_counter() - t) / len(chunk))
            usable[label] += [r.usable for r in res]
    rows = {
        k: {"s_per_crystal_median": float(np.median(v)), "s_per_crystal_blocks": [round(x, 4) for x in v],
            "usable": float(np.mean(usable[k]))}
        for k, v in times.items()
    }  # fmt: skip
    sev = get_potential("sevennet")
    few = ds.structures[:8]
    t = time.perf_counter()
    scan_eos(few, sev, ScanConfig(max_recentre=0), progress=False)
    rows["sevennet plain 7-point (8 crystals, one structure per call)"] = {
        "s_per_crystal_median": (time.perf_counter() - t) / len(few)
    }
    out = {
        "n_crystals": len(ds),
        "block": block,
        "variants": rows,
        "load_avg_1m_after": os.getloadavg()[0],
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "python": platform.python_version(),
    }
    write_json_atomic(RESULTS / "umlip_speed.json", out)
    return out


def run_models(only: list[str] | None, force: bool) -> None:
    for name, (model, cfg, split) in RUNS.items():
        out = RESULTS / f"{name}.json"
        if (only and name not in only) or (out.exists() and not force):
            continue
        res = run_benchmark("mp-binary-2025", model, split=split, model_config=cfg, out=out)
        print(f"{name}: MAE {res['mae_log10']:.4f} ({res['wall_s']:.0f} s)")


def _preds(stem: Path, column: str = "y_pred_log10") -> pd.DataFrame | None:
    """The predictions CSV of ``stem`` (a results path without suffix), the prediction column renamed."""
    path = stem.with_name(f"{stem.name}.predictions.csv")
    return pd.read_csv(path).rename(columns={column: "y_pred_log10"}) if path.exists() else None


def _n_elements() -> dict[str, int]:
    out = {}
    for ds_name in ("mp-binary-2025", "elastic-2015"):
        ds = load_dataset(ds_name)
        out |= {i: len(c.elements) for i, c in zip(ds.ids, ds.compositions, strict=True)}
    return out


def _mae(df: pd.DataFrame) -> str:
    err = (df["y_pred_log10"] - df["y_true_log10"]).abs().dropna()
    return f"{err.mean():.4f} ({len(err)})" if len(err) else "–"


def summary() -> str:
    n_el = _n_elements()
    lines = ["# Physics prior: universal-potential bulk moduli (issue 4)", ""]
    sp = RESULTS / "umlip_speed.json"
    if sp.exists():
        s = json.loads(sp.read_text())
        lines += [f"## E–V scan speed, CHGNet 0.3.0 on CPU ({s['n_crystals']} crystals, {s['machine']})", "",
                  "| variant | s/crystal (median over blocks) | usable fits |", "|---|---|---|"]  # fmt: skip
        for label, r in s["variants"].items():
            usable = f"{r['usable']:.2f}" if "usable" in r else ""
            lines.append(f"| {label} | {r['s_per_crystal_median']:.3f} | {usable} |")
        lines += ["", f"Load average after the run: {s['load_avg_1m_after']:.1f} (2 cores). `{s['command']}`", ""]
    for split in SPLITS:
        sources = {BASELINE: (BASELINE_RESULTS / f"mp-binary-2025_{BASELINE}_{split}", "y_pred_log10")}
        sources |= {m: (RESULTS / f"mp-binary-2025_{m}_{split}", "y_pred_log10") for m in MODELS}
        sources |= {label: (stems[split], col) for label, (stems, col) in REFERENCES.items() if split in stems}
        base = _preds(*sources[BASELINE])
        lines += [f"## {split}", "", "| model | MAE log10 (n) | " + " | ".join(f"K {a}–{b:g}" if b < 1e9 else f"K > {a}"
                  for a, b in BINS) + " | 1 element | 2 | 3+ | paired vs lgbm (p) |", "|---" * 11 + "|"]  # fmt: skip
        for model, (stem, column) in sources.items():
            df = _preds(stem, column)
            if df is None:
                continue
            k = 10 ** df["y_true_log10"]
            cells = [_mae(df[(k >= a) & (k < b)]) for a, b in BINS]
            ne = df["id"].map(n_el)
            cells += [_mae(df[ne == 1]), _mae(df[ne == 2]), _mae(df[ne > 2])]
            paired = ""
            if model != BASELINE and base is not None:
                m = base.merge(df, on="id", suffixes=("_b", "_m")).dropna(subset=["y_pred_log10_b", "y_pred_log10_m"])
                eb, em = (
                    (m["y_pred_log10_b"] - m["y_true_log10_b"]).abs(),
                    (m["y_pred_log10_m"] - m["y_true_log10_m"]).abs(),
                )
                paired = f"{em.mean() - eb.mean():+.4f} (p {wilcoxon(em, eb).pvalue:.2g}, n {len(m)})"
            lines.append(f"| {model} | {_mae(df)} | " + " | ".join(cells) + f" | {paired} |")
        lines.append("")
    lines += ["Rows with no usable E–V fit have no zero-shot prediction (brackets: how many were scored); the",
              "paired column compares mean |error| on the crystals both models predicted (Wilcoxon signed-rank).",
              "", "Made by `python benchmarks/umlip.py summary` from the JSON/CSV files beside it."]  # fmt: skip
    text = "\n".join(lines) + "\n"
    (RESULTS / "umlip.md").write_text(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["speed", "models", "summary"])
    ap.add_argument("--only", nargs="*", help=f"run names: {', '.join(RUNS)}")
    ap.add_argument("--force", action="store_true", help="re-run even if the JSON exists")
    args = ap.parse_args()
    if args.part == "speed":
        print(json.dumps(speed(), indent=2))
    elif args.part == "models":
        run_models(args.only, args.force)
    print(summary())


if __name__ == "__main__":
    main()
