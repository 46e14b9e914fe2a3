# ruff: noqa: E402  (the environment must be set before numpy and bulkmod are imported)
"""Featurization speed: bulkmod's structure descriptors next to the equivalent matminer featurizers.

Both sides run one after the other in one process, single-threaded, on the same seeded subset of the
``mp-binary-2025`` structures. bulkmod is timed as one batch call (cold = fresh, empty feature cache;
warm = the same call again, served from the cache). Each matminer featurizer is timed per structure
(``featurize`` in a loop, one process), so medians and means over structures are reported. Every timing is
taken on two clocks: process CPU time (the headline: it is what one core spends, and it is not inflated when
other jobs share the machine) and wall time.

    .venv/bin/python benchmarks/featurize_speed.py     # 500 structures -> benchmarks/results/featurize_speed/
    .venv/bin/python benchmarks/featurize_speed.py --limit 50 --out /tmp/speed
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_CACHE_DIRS: list[str] = []


def fresh_cache() -> None:
    """Point bulkmod at a new, empty feature cache (removed when the script exits)."""
    _CACHE_DIRS.append(tempfile.mkdtemp(prefix="bulkmod-speed-"))
    os.environ["BULKMOD_CACHE"] = _CACHE_DIRS[-1]


atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _CACHE_DIRS])

# Before numpy/bulkmod are imported: one BLAS thread (a fair single-core comparison) and an empty feature cache.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
fresh_cache()

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from bulkmod.data import load_dataset
from bulkmod.evaluation.benchmark import limit_rows
from bulkmod.features import FeatureConfig, featurize
from bulkmod.provenance import command_line, cpu_model, git_commit, load_average

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "featurize_speed"
DATASET = "mp-binary-2025"
STRUCTURE_GROUPS = ("density", "coordination", "bonds", "packing", "mismatch", "spacegroup")
TARGET_RATIO = 10.0
PROBE_N = 20  # structures used to warm matminer up and project its run time
PROBE_SEED = 0
ALT_EVERY = 5  # the alternative coordination featurizer (not in the totals) runs on every 5th structure
CLOCKS = ("cpu", "wall")
HEADLINE_CLOCK = "cpu"


def clock() -> dict[str, float]:
    """Process CPU time and wall time, in seconds."""
    return {"cpu": time.process_time(), "wall": time.perf_counter()}


def elapsed_ms(t0: dict[str, float]) -> dict[str, float]:
    """Milliseconds on each clock since ``t0``."""
    t1 = clock()
    return {c: (t1[c] - t0[c]) * 1e3 for c in CLOCKS}


def stats_ms(t: list[float]) -> dict[str, float]:
    """Median, mean, p90, max and total of per-structure times (ms)."""
    return {
        "median_ms": round(statistics.median(t), 3),
        "mean_ms": round(statistics.fmean(t), 3),
        "p90_ms": round(float(np.percentile(t, 90)), 3),
        "max_ms": round(max(t), 3),
        "total_s": round(sum(t) / 1e3, 3),
    }


@dataclass
class MatminerEntry:
    """One matminer featurizer, what it takes as input, and the bulkmod group it stands in for."""

    name: str
    bulkmod_group: str
    make: Callable[[], Any]
    composition: bool = False
    in_total: bool = True


@dataclass
class Timing:
    """Per-structure CPU and wall times (ms) of one featurizer, with failures counted."""

    name: str
    bulkmod_group: str
    times_ms: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CLOCKS})
    n_errors: int = 0
    first_error: str | None = None
    cutoff_bumps: int = 0
    in_total: bool = True
    note: str | None = None

    def mean(self, c: str = HEADLINE_CLOCK) -> float:
        return statistics.fmean(self.times_ms[c])

    def summary(self) -> dict[str, Any]:
        return {
            "featurizer": self.name,
            "bulkmod_group": self.bulkmod_group,
            "in_total": self.in_total,
            "n_structures": len(self.times_ms["wall"]),
            "n_errors": self.n_errors,
            "first_error": self.first_error,
            **{c: stats_ms(self.times_ms[c]) for c in CLOCKS},
            "voronoi_cutoff_bumps": self.cutoff_bumps,
            "note": self.note,
        }


def matminer_entries() -> list[MatminerEntry]:
    """The matminer set covering the information in bulkmod's default feature groups."""
    from matminer.featurizers.composition import AtomicPackingEfficiency, ElementProperty
    from matminer.featurizers.site import (
        AverageBondAngle,
        AverageBondLength,
        CoordinationNumber,
        LocalPropertyDifference,
    )
    from matminer.featurizers.structure import (
        DensityFeatures,
        GlobalSymmetryFeatures,
        MaximumPackingEfficiency,
        SiteStatsFingerprint,
        StructuralHeterogeneity,
    )
    from pymatgen.analysis.local_env import VoronoiNN

    return [
        MatminerEntry("DensityFeatures", "density/packing", DensityFeatures),
        MatminerEntry("MaximumPackingEfficiency", "packing", MaximumPackingEfficiency),
        MatminerEntry("StructuralHeterogeneity", "bonds", StructuralHeterogeneity),
        MatminerEntry(
            "SiteStatsFingerprint(CoordinationNumber VoronoiNN)",
            "coordination",
            lambda: SiteStatsFingerprint(CoordinationNumber.from_preset("VoronoiNN")),
        ),
        MatminerEntry(
            "SiteStatsFingerprint(AverageBondLength(VoronoiNN))",
            "bonds",
            lambda: SiteStatsFingerprint(AverageBondLength(VoronoiNN())),
        ),
        MatminerEntry(
            "SiteStatsFingerprint(AverageBondAngle(VoronoiNN))",
            "bonds",
            lambda: SiteStatsFingerprint(AverageBondAngle(VoronoiNN())),
        ),
        MatminerEntry(
            "SiteStatsFingerprint(LocalPropertyDifference(Electronegativity))",
            "mismatch",
            lambda: SiteStatsFingerprint(LocalPropertyDifference(properties=("Electronegativity",))),
        ),
        MatminerEntry("GlobalSymmetryFeatures", "spacegroup", GlobalSymmetryFeatures),
        MatminerEntry(
            "ElementProperty(magpie)", "magpie", lambda: ElementProperty.from_preset("magpie"), composition=True
        ),
        MatminerEntry("AtomicPackingEfficiency", "packing/mismatch", AtomicPackingEfficiency, composition=True),
        MatminerEntry(
            "SiteStatsFingerprint(CoordinationNumber ward-prb-2017) [alternative]",
            "coordination",
            lambda: SiteStatsFingerprint.from_preset("CoordinationNumber_ward-prb-2017"),
            in_total=False,
        ),
    ]


def time_one(featurizer: Any, item: Any) -> tuple[dict[str, float], str | None]:
    """CPU and wall time (ms) of one ``featurize`` call, and the error message if it raised."""
    t0 = clock()
    try:
        featurizer.featurize(item)
        err = None
    except Exception as exc:
        err = f"{type(exc).__name__}: {exc}"[:300]
    return elapsed_ms(t0), err


def voronoi_objects(obj: Any, depth: int = 3) -> list[Any]:
    """The VoronoiNN instances held by a featurizer (directly or through a site featurizer)."""
    from pymatgen.analysis.local_env import VoronoiNN

    if isinstance(obj, VoronoiNN):
        return [obj]
    if depth == 0 or not hasattr(obj, "__dict__"):
        return []
    return [v for child in vars(obj).values() for v in voronoi_objects(child, depth - 1)]


def run_matminer(
    entry: MatminerEntry,
    featurizer: Any,
    structures: list[Structure],
    idx: np.ndarray,
    note: str | None,
    reset_voronoi: bool,
) -> Timing:
    """Time one featurizer on ``structures[idx]``, one structure at a time.

    pymatgen's ``VoronoiNN.get_voronoi_polyhedra`` doubles ``self.cutoff`` when a tessellation fails (large cells)
    and never lowers it again, so one such crystal makes every later one slower. With ``reset_voronoi`` the
    cutoff is restored before each structure (outside the timed region); bumps are counted either way.
    """
    timing = Timing(entry.name, entry.bulkmod_group, in_total=entry.in_total, note=note)
    voro = [(nn, nn.cutoff) for nn in voronoi_objects(featurizer)]
    for i in idx:
        s = structures[i]
        if reset_voronoi:
            for nn, cutoff in voro:
                nn.cutoff = cutoff
        before = [nn.cutoff for nn, _ in voro]
        ms, err = time_one(featurizer, s.composition if entry.composition else s)
        for c in CLOCKS:
            timing.times_ms[c].append(ms[c])
        timing.cutoff_bumps += any(nn.cutoff != b for (nn, _), b in zip(voro, before, strict=True))
        if err is not None:
            timing.n_errors += 1
            timing.first_error = timing.first_error or err
    return timing


def electronegativity_diff_status(structure: Structure) -> dict[str, Any]:
    """Whether matminer's ElectronegativityDiff works on an undecorated composition (it needs oxidation states)."""
    from matminer.featurizers.composition import ElectronegativityDiff

    _ms, err = time_one(ElectronegativityDiff(), structure.composition)
    return {
        "featurizer": "ElectronegativityDiff",
        "included": err is None,
        "reason": None if err is None else f"skipped: {err} (needs oxidation-state decoration)",
    }


def matminer_side(
    structures: list[Structure], budget_s: float, reset_voronoi: bool, log: Callable[[str], None]
) -> tuple[list[Timing], dict[str, Any]]:
    """Probe every featurizer (warm-up and CPU-time projection), shrink the slowest if over budget, then time all."""
    n = len(structures)
    entries = matminer_entries()
    featurizers = [e.make() for e in entries]
    rng = np.random.default_rng(PROBE_SEED)
    probe_idx = np.sort(rng.choice(n, size=min(PROBE_N, n), replace=False))
    probe_ms: dict[str, float] = {}
    for e, f in zip(entries, featurizers, strict=True):
        probe = run_matminer(e, f, structures, probe_idx, None, reset_voronoi)
        probe_ms[e.name] = probe.mean("cpu")
        log(f"  probe {e.name}: {probe_ms[e.name]:.1f} ms/structure (CPU)")
    main = [e.name for e in entries if e.in_total]
    projected_s = sum(probe_ms[k] for k in main) * n / 1e3
    n_for = {e.name: n if e.in_total else max(2, len(range(0, n, ALT_EVERY))) for e in entries}
    slowest = max(main, key=probe_ms.__getitem__)
    if projected_s > budget_s:
        rest_s = (sum(probe_ms[k] for k in main) - probe_ms[slowest]) * n / 1e3
        n_for[slowest] = int(np.clip((budget_s - rest_s) * 1e3 / probe_ms[slowest], min(100, n), n))
    reduced = None
    if n_for[slowest] < n:
        reduced = {"featurizer": slowest, "n_structures": n_for[slowest], "projected_cpu_s": round(projected_s, 1)}
        log(f"  projected {projected_s:.0f} CPU s > budget {budget_s:.0f} s: {slowest} on {n_for[slowest]} structures")
    timings = []
    for e, f in zip(entries, featurizers, strict=True):
        k = n_for[e.name]
        idx = np.arange(n) if k == n else np.unique(np.linspace(0, n - 1, k).round().astype(int))
        note = None if k == n else f"timed on {len(idx)} of {n} structures (evenly spaced)"
        if not e.in_total:
            note = f"alternative to the VoronoiNN preset, not in the totals; {note}"
        t = run_matminer(e, f, structures, idx, note, reset_voronoi)
        log(
            f"  {e.name}: CPU median {statistics.median(t.times_ms['cpu']):.1f} / mean {t.mean('cpu'):.1f} ms, "
            f"wall mean {t.mean('wall'):.1f} ms ({t.cutoff_bumps} VoronoiNN cutoff bumps)"
        )
        timings.append(t)
    meta = {
        "probe": {
            "n_structures": len(probe_idx),
            "seed": PROBE_SEED,
            "cpu_mean_ms": {k: round(v, 3) for k, v in probe_ms.items()},
            "projected_total_cpu_s": round(projected_s, 1),
        },
        "budget_s": budget_s,
        "reset_voronoi_cutoff": reset_voronoi,
        "reduced": reduced,
        "electronegativity_diff": electronegativity_diff_status(structures[0]),
    }
    return timings, meta


def cold_call(ds: Any, cfg: FeatureConfig) -> tuple[dict[str, float], np.ndarray, dict[int, str]]:
    """One ``featurize`` call on a fresh, empty cache directory: ms per clock, matrix and row errors."""
    fresh_cache()
    t0 = clock()
    X, errors = featurize(ds, cfg)
    return elapsed_ms(t0), X, errors


def per_structure(ms: dict[str, float], n: int) -> dict[str, float]:
    return {c: round(ms[c] / n, 3) for c in CLOCKS}


def time_bulkmod(ds: Any, cfg: FeatureConfig, cold_repeats: int) -> dict[str, Any]:
    """``cold_repeats`` cold-cache calls (each on a fresh cache dir), then one warm call served from the cache."""
    n = len(ds)
    runs = [cold_call(ds, cfg) for _ in range(cold_repeats)]
    X, errors = runs[-1][1], runs[-1][2]
    t0 = clock()
    featurize(ds, cfg)
    warm = elapsed_ms(t0)
    return {
        "groups": list(cfg.groups),
        "n_features": int(X.shape[1]),
        "n_errors": len(errors),
        "n_nan_rows": int(np.isnan(X).any(axis=1).sum()),
        "cold_ms_per_structure": {c: round(statistics.median(r[0][c] for r in runs) / n, 3) for c in CLOCKS},
        "cold_repeats_ms_per_structure": [per_structure(r[0], n) for r in runs],
        "warm_ms_per_structure": per_structure(warm, n),
    }


def bulkmod_side(ds: Any, cold_repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The first call in the process (cold cache and cold imports), then both configs timed on a cold cache."""
    first, _X, _err = cold_call(ds, FeatureConfig())
    out: dict[str, Any] = {"first_call_in_process_ms_per_structure": per_structure(first, len(ds))}
    log(f"  first call in process (default config): {out['first_call_in_process_ms_per_structure']} ms/structure")
    for key, cfg in (("structure", FeatureConfig(groups=STRUCTURE_GROUPS)), ("full", FeatureConfig())):
        out[key] = time_bulkmod(ds, cfg, cold_repeats)
        log(f"  {key}: cold {out[key]['cold_ms_per_structure']} / warm {out[key]['warm_ms_per_structure']} ms")
    return out


def machine_info() -> dict[str, Any]:
    """Platform, CPU and library versions."""
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "versions": {p: version(p) for p in ("bulkmod", "matminer", "pymatgen", "numpy", "scipy", "spglib")},
    }


def ratio(num: float, den: float) -> float:
    return round(num / den, 1) if den > 0 else float("nan")


def totals(mm: list[dict[str, Any]], bm: dict[str, Any], c: str) -> dict[str, float]:
    """matminer sums of per-featurizer means, bulkmod per-structure costs and their ratios, on clock ``c``."""
    full = sum(t[c]["mean_ms"] for t in mm if t["in_total"])
    struct = sum(t[c]["mean_ms"] for t in mm if t["in_total"] and t["bulkmod_group"] != "magpie")
    cold, cold_s = bm["full"]["cold_ms_per_structure"][c], bm["structure"]["cold_ms_per_structure"][c]
    first, warm = bm["first_call_in_process_ms_per_structure"][c], bm["full"]["warm_ms_per_structure"][c]
    return {
        "matminer_full_ms": round(full, 3),
        "matminer_structure_ms": round(struct, 3),
        "bulkmod_full_cold_ms": cold,
        "bulkmod_structure_cold_ms": cold_s,
        "bulkmod_first_call_in_process_ms": first,
        "bulkmod_full_warm_ms": warm,
        "ratio_full_cold": ratio(full, cold),
        "ratio_structure_cold": ratio(struct, cold_s),
        "ratio_full_first_call": ratio(full, first),
        "ratio_full_warm": ratio(full, warm),
    }


def write_markdown(res: dict[str, Any], path: Path) -> None:
    """Two short tables and one paragraph."""
    mm, bm, tot = res["matminer"], res["bulkmod"], res["totals"]
    cpu, wall = tot["cpu"], tot["wall"]
    lines = [
        f"# Featurization speed: bulkmod vs matminer ({res['n_structures']} structures, {res['dataset']})",
        "",
        f"`{res['command']}` at commit `{res['commit']}` on {res['machine']['cpu']} "
        f"({res['machine']['cpus_usable']} CPUs, single process, one BLAS thread; load average "
        f"{res['load_average']['start']} at start, {res['load_average']['end']} at end). "
        "Times are ms per structure; CPU = process CPU time, the headline.",
        "",
        "| matminer featurizer | stands in for | n | CPU median | CPU mean | wall mean | errors | VoronoiNN bumps |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in mm:
        name = t["featurizer"] if t["in_total"] else f"*{t['featurizer']}*"
        lines.append(
            f"| {name} | {t['bulkmod_group']} | {t['n_structures']} | {t['cpu']['median_ms']:.1f} "
            f"| {t['cpu']['mean_ms']:.1f} | {t['wall']['mean_ms']:.1f} | {t['n_errors']} "
            f"| {t['voronoi_cutoff_bumps']} |"
        )
    en = res["matminer_meta"]["electronegativity_diff"]
    if not en["included"]:
        lines.append(f"| ElectronegativityDiff | mismatch | 0 | – | – | – | {en['reason']} | |")
    lines += [
        f"| **matminer set, total** (sum of means) | all | | | **{cpu['matminer_full_ms']:.1f}** "
        f"| {wall['matminer_full_ms']:.1f} | | |",
        f"| matminer set without ElementProperty(magpie) | structure + spacegroup | | | "
        f"{cpu['matminer_structure_ms']:.1f} | {wall['matminer_structure_ms']:.1f} | | |",
        "",
        "| bulkmod `featurize` (one batch call) | features | cold CPU | cold wall | warm CPU "
        "| matminer / bulkmod cold, CPU (wall) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label, r in (
        ("structure", "structure groups + spacegroup", "ratio_structure_cold"),
        ("full", "default `FeatureConfig()`", "ratio_full_cold"),
    ):
        b = bm[key]
        lines.append(
            f"| {label} | {b['n_features']} | {b['cold_ms_per_structure']['cpu']:.2f} "
            f"| {b['cold_ms_per_structure']['wall']:.2f} | {b['warm_ms_per_structure']['cpu']:.3f} "
            f"| **{cpu[r]:.0f}x** ({wall[r]:.0f}x) |"
        )
    first = bm["first_call_in_process_ms_per_structure"]
    lines.append(
        f"| default, first call in the process (cold imports too) | {bm['full']['n_features']} | {first['cpu']:.2f} "
        f"| {first['wall']:.2f} | – | {cpu['ratio_full_first_call']:.0f}x ({wall['ratio_full_first_call']:.0f}x) |"
    )
    lines += ["", res["summary"], ""]
    path.write_text("\n".join(lines))


def summary_paragraph(res: dict[str, Any]) -> str:
    """The one-paragraph reading of the numbers."""
    bm, meta = res["bulkmod"], res["matminer_meta"]
    cpu, wall = res["totals"]["cpu"], res["totals"]["wall"]
    red = meta["reduced"]
    reduced = (
        f" Because the projected matminer CPU time ({red['projected_cpu_s']:.0f} s) exceeded the "
        f"{meta['budget_s']:.0f} s budget, {red['featurizer']} was timed on {red['n_structures']} evenly spaced "
        "structures only."
        if red
        else ""
    )
    en = meta["electronegativity_diff"]
    en_note = (
        " ElectronegativityDiff was left out because it needs oxidation-state-decorated compositions; the local "
        "electronegativity difference (LocalPropertyDifference) stands in for it."
        if not en["included"]
        else ""
    )
    bumps = sum(t["voronoi_cutoff_bumps"] for t in res["matminer"])
    voro_note = (
        " pymatgen's VoronoiNN raises its own cutoff when a tessellation fails on a large cell and never lowers it "
        f"({bumps} such bumps here, summed over featurizers); "
        + (
            "this run restored the cutoff before every structure (untimed), so each structure is timed as if "
            "featurized alone, matminer's best case; --keep-voronoi-state shows the plain-loop slowdown."
            if meta["reset_voronoi_cutoff"]
            else "this run kept that state (--keep-voronoi-state), so structures after a bump are featurized with "
            "the larger cutoff, as in a plain matminer loop."
        )
    )
    peak = max((x[0] for x in res["load_average"].values() if x), default=0.0)
    ncpu = res["machine"]["cpus_usable"] or 1
    load_note = (
        f"The 1-minute load average reached {peak:.1f} on {ncpu} CPUs, so other jobs shared the machine and wall "
        "times are inflated; CPU time is the headline for that reason."
        if peak > ncpu
        else "The machine was otherwise idle (load average <= CPU count); CPU and wall times should agree."
    )
    worst = min(cpu["ratio_full_cold"], cpu["ratio_full_first_call"], wall["ratio_full_cold"])
    verdict = "meets" if worst >= TARGET_RATIO else "misses"
    return (
        f"On {res['n_structures']} structures, the matminer set costs {cpu['matminer_full_ms']:.0f} ms/structure of "
        f"CPU time (sum of per-featurizer means; {cpu['matminer_structure_ms']:.0f} without ElementProperty; "
        f"{wall['matminer_full_ms']:.0f} ms wall), while bulkmod with the default groups costs "
        f"{cpu['bulkmod_full_cold_ms']:.1f} ms/structure on a cold cache ({cpu['bulkmod_structure_cold_ms']:.1f} for "
        f"the structure groups + spacegroup alone; {cpu['bulkmod_first_call_in_process_ms']:.1f} for the very first "
        f"call in the process, which also pays one-off imports) and {cpu['bulkmod_full_warm_ms']:.2f} ms/structure "
        f"from a warm cache. matminer / bulkmod cold = {cpu['ratio_full_cold']:.0f}x on CPU time "
        f"({wall['ratio_full_cold']:.0f}x wall, {cpu['ratio_full_first_call']:.0f}x against the first call), which "
        f"{verdict} the >= {TARGET_RATIO:.0f}x target. The two sets carry the same kinds of information but are not "
        "numerically identical: bulkmod's coordination, bond, angle and electronegativity blocks come from one "
        "distance-shell neighbour list per crystal, matminer's from a Voronoi tessellation per featurizer, which is "
        "where its time goes. bulkmod is timed as whole batch calls (structure hashing and the SQLite cache write "
        f"included; cold = median of {len(bm['full']['cold_repeats_ms_per_structure'])} call(s), each on a fresh "
        f"cache directory); matminer per structure, after a warm-up on {meta['probe']['n_structures']} structures. "
        f"{load_note}{voro_note}{reduced}{en_note}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=500, help="structures to featurize (seeded subset; default 500)")
    p.add_argument("--cold-repeats", type=int, default=3, help="cold bulkmod calls, each on a fresh cache (default 3)")
    p.add_argument(
        "--matminer-budget-s",
        type=float,
        default=600.0,
        help="if the projected matminer CPU time (s) exceeds this, the slowest featurizer runs on fewer structures "
        "(CPU, not wall, so the choice does not depend on other jobs on the machine)",
    )
    p.add_argument(
        "--keep-voronoi-state",
        action="store_true",
        help="do not restore VoronoiNN.cutoff before each structure (matminer as it behaves in a plain loop)",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    args = p.parse_args(argv)
    if args.limit < 2 or args.cold_repeats < 1:
        p.error("--limit must be >= 2 and --cold-repeats >= 1")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    warnings.filterwarnings("ignore")
    load = {"start": load_average()}
    ds = limit_rows(load_dataset(DATASET), args.limit)
    structures = list(ds.structures)
    n = len(structures)
    log(f"{n} structures from {DATASET}; load average {load['start']}")

    log("bulkmod ...")
    bulkmod = bulkmod_side(ds, args.cold_repeats, log)

    log("matminer ...")
    load["before_matminer"] = load_average()
    t0 = time.perf_counter()
    timings, meta = matminer_side(structures, args.matminer_budget_s, not args.keep_voronoi_state, log)
    meta["wall_s"] = round(time.perf_counter() - t0, 1)
    load["end"] = load_average()
    mm = [t.summary() for t in timings]

    res: dict[str, Any] = {
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine_info(),
        "load_average": load,
        "dataset": DATASET,
        "n_structures": n,
        "sites_per_structure": {
            "median": float(np.median([len(s) for s in structures])),
            "max": max(map(len, structures)),
        },
        "bulkmod": bulkmod,
        "matminer": mm,
        "matminer_meta": meta,
        "totals": {
            "headline_clock": HEADLINE_CLOCK,
            **{c: totals(mm, bulkmod, c) for c in CLOCKS},
            "target_ratio": TARGET_RATIO,
            "definition": "matminer ms/structure = sum of per-featurizer means (in_total only); bulkmod cold = median "
            "of cold-cache batch calls / n; ratio_full_cold = matminer_full / bulkmod_full_cold; "
            "ratio_full_first_call uses the first featurize call in the process instead (cold imports too); "
            "cpu = time.process_time, wall = time.perf_counter",
        },
    }
    res["summary"] = summary_paragraph(res)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "featurize_speed.json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(res, args.out / "featurize_speed.md")
    log(res["summary"])
    log(f"wrote {args.out / 'featurize_speed.json'} and featurize_speed.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
