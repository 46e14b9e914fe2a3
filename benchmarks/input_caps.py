"""How close real crystals come to the input caps that refuse hostile files (``data/validate.py``).

The caps must refuse a memory bomb (rock salt squeezed to a = 1.02 A: atoms 0.51 A apart, just over the overlap
limit) without refusing a real crystal. This records, over every structure dataset bulkmod reads, the densest
neighbourhood (mean neighbours per atom within ``NEIGHBOR_RADIUS_A``), the smallest volume per atom and the
largest cell, next to the caps, and the same numbers for the bomb.

    .venv/bin/python benchmarks/input_caps.py      # -> benchmarks/results/input_caps/input_caps.json
"""

from __future__ import annotations

import time

import numpy as np
from pymatgen.core import Lattice, Structure

from bulkmod.data import load_dataset
from bulkmod.data.validate import DEFAULT_MAX_ATOMS, DEFAULT_MAX_NEIGHBORS, NEIGHBOR_RADIUS_A
from bulkmod.io import REPO_ROOT, write_json_atomic
from bulkmod.provenance import command_line, git_commit, load_average, machine

DATASETS = ("mp-binary-2025", "elastic-2015")
NA = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
CL = [[0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]


def neighbours_per_atom(s: Structure) -> float:
    centers, _, _, _ = s.get_neighbor_list(NEIGHBOR_RADIUS_A)
    return len(centers) / len(s)


def stats(structures: list[Structure]) -> dict[str, float]:
    nbrs = np.array([neighbours_per_atom(s) for s in structures])
    vpa = np.array([s.volume / len(s) for s in structures])
    return {
        "n": len(structures),
        "neighbours_per_atom_max": float(nbrs.max()),
        "neighbours_per_atom_p99": float(np.percentile(nbrs, 99)),
        "volume_per_atom_min_a3": float(vpa.min()),
        "sites_max": int(max(len(s) for s in structures)),
    }


def main() -> None:
    start = time.time()
    out: dict = {
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "load_average": load_average(),
        "caps": {
            "max_neighbors_per_atom": DEFAULT_MAX_NEIGHBORS,
            "radius_a": NEIGHBOR_RADIUS_A,
            "max_atoms": DEFAULT_MAX_ATOMS,
        },
        "datasets": {name: stats(load_dataset(name).structures) for name in DATASETS},
    }
    bomb = Structure(Lattice.cubic(1.02), ["Na"] * 4 + ["Cl"] * 4, NA + CL)
    out["memory_bomb_rocksalt_a1.02"] = stats([bomb])
    out["wall_s"] = round(time.time() - start, 1)
    path = REPO_ROOT / "benchmarks" / "results" / "input_caps" / "input_caps.json"
    write_json_atomic(path, out)
    print(path.read_text())


if __name__ == "__main__":
    main()
