# ruff: noqa: E402  (the environment must be set before numpy and bulkmod are imported)
"""What the mp-kvrh-all join holds on the shared data, and how long a cold build (empty cache) takes.

Counts: rows, rows with a structure, rows by number of elements and by source combination, the report's
flags (conflicts, ambiguous matches, broken and unstable tensors) and how closely each pair of sources agrees
on the materials they share (the evidence behind the precedence rule in ``bulkmod.data.mp_all``).

    .venv/bin/python benchmarks/mp_kvrh_all_join.py   # -> benchmarks/results/mp_kvrh_all_join/mp_kvrh_all_join.json
"""

from __future__ import annotations

import os
import shutil
import tempfile

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
CACHE = tempfile.mkdtemp(prefix="bulkmod-join-")
os.environ["BULKMOD_CACHE"] = CACHE  # an empty cache: the first load is a cold build

import itertools
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bulkmod.data.mp_all import CONFLICT_LOG10, SOURCES, load_mp_kvrh_all
from bulkmod.data.records import Dataset
from bulkmod.io import write_json_atomic
from bulkmod.provenance import command_line, git_commit, load_average, machine

OUT = Path(__file__).resolve().parent / "results" / "mp_kvrh_all_join" / "mp_kvrh_all_join.json"


def category(reason: str) -> str:
    """The report's problem kind, as ``ValidationReport.summary`` groups them."""
    return reason.split(" (")[0].split(":")[0]


def agreement(ds: Dataset) -> dict[str, dict[str, Any]]:
    """|Δ log10 K| between every two sources on the materials both hold."""
    out = {}
    for a, b in itertools.combinations(SOURCES, 2):
        d = np.abs(np.log10(ds.meta[f"k_{a}"].to_numpy()) - np.log10(ds.meta[f"k_{b}"].to_numpy()))
        d = d[np.isfinite(d)]
        if len(d):
            out[f"{a} vs {b}"] = {
                "n": len(d),
                "mae": round(float(d.mean()), 4),
                "median": round(float(np.median(d)), 4),
                "p90": round(float(np.percentile(d, 90)), 4),
                f"n_above_{CONFLICT_LOG10}": int((d > CONFLICT_LOG10).sum()),
            }
    return out


def counts(ds: Dataset) -> dict[str, Any]:
    meta, rep = ds.meta, ds.report
    has = ds.structure_mask
    join_flags = [p for p in rep.problems if p.source == ds.name]
    ambiguous = [p for p in join_flags if category(p.reason) == "ambiguous match"]
    ambiguous_rows = meta.iloc[[p.row for p in ambiguous]]
    several_materials = ambiguous_rows["ambiguous_with"].str.contains(";")
    own_matbench = (meta["sources"] == "matbench") & (meta["ambiguous_with"] == "")
    formulas = np.array(ds.reduced_formulas)
    return {
        "rows": len(ds),
        "rows_with_structure": int(has.sum()),
        "rows_by_n_elements": {int(k): int(v) for k, v in sorted(Counter(meta["n_elements"]).items())},
        "rows_with_structure_by_n_elements": {
            int(k): int(v) for k, v in sorted(Counter(meta["n_elements"][has]).items())
        },
        "rows_by_sources": dict(Counter(meta["sources"]).most_common()),
        "rows_by_k_source": dict(Counter(meta["k_source"]).most_common()),
        "source_rows_read": rep.n_read,
        "source_rows_rejected": rep.n_rejected,
        "problems_by_kind": dict(Counter(category(p.reason) for p in rep.problems).most_common()),
        "rejected": [p.line() for p in rep.rejected],
        "conflicts": sum(category(p.reason) == "conflict" for p in join_flags),
        "conflicts_by_sources": dict(
            Counter(meta["sources"].iloc[p.row] for p in join_flags if category(p.reason) == "conflict").most_common()
        ),
        "matbench_rows_joined_to_a_structure": int(((meta["mbid"] != "") & has).sum()),
        "matbench_rows_ambiguous": len(ambiguous),
        "matbench_rows_ambiguous_several_materials": int(several_materials.sum()),
        "matbench_rows_ambiguous_shared_key": int((~several_materials).sum()),
        "matbench_rows_unmatched": int(own_matbench.sum()),
        "matbench_rows_unmatched_whose_formula_has_a_structure_in_another_space_group": int(
            np.isin(formulas[own_matbench.to_numpy()], formulas[has]).sum()
        ),
        "agreement_log10_between_sources": agreement(ds),
    }


def main() -> None:
    load_before = load_average()
    try:
        t = time.perf_counter()
        ds = load_mp_kvrh_all()
        cold = time.perf_counter() - t
        t = time.perf_counter()
        load_mp_kvrh_all()
        warm = time.perf_counter() - t
    finally:
        shutil.rmtree(CACHE, ignore_errors=True)
    res = {
        "dataset": ds.name,
        **counts(ds),
        "cold_build_wall_s": round(cold, 1),
        "warm_load_wall_s": round(warm, 2),
        "timing_note": "cold = every source parsed and validated, space groups detected, cache written; "
        "warm = sources hashed and the cache read back",
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
    }
    write_json_atomic(OUT, res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
