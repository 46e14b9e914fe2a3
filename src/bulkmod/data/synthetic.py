"""A screening stream of any length from the shipped example crystals, for scaling tests and benchmarks.

Each row is an example structure with its lattice strained by up to ±3 % and its atoms displaced by ~0.01
(fractional), so every row is a distinct crystal (no feature-cache hits) that still predicts sensibly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

from bulkmod.data.files import read_structure
from bulkmod.io import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def perturbed_structures(n: int, seed: int = 0) -> Iterator[tuple[str, Structure]]:
    """(id, structure) for ``n`` perturbed copies of the shipped examples, cycling through them."""
    bases = [(p.stem, read_structure(p)) for p in sorted(EXAMPLES.iterdir()) if p.is_file()]
    rng = np.random.default_rng(seed)
    for i in range(n):
        name, s = bases[i % len(bases)]
        lattice = Lattice(s.lattice.matrix * rng.uniform(0.97, 1.03, size=(3, 1)))
        frac = s.frac_coords + rng.normal(0, 0.01, size=s.frac_coords.shape)
        yield f"{name}-{i:07d}", Structure(lattice, s.species, frac)


def write_jsonl(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` rows of ``{"id", "structure"}``, one JSON object per line (written row by row: flat memory)."""
    with open(path, "w") as fh:
        for sid, s in perturbed_structures(n, seed):
            fh.write(json.dumps({"id": sid, "structure": s.as_dict()}) + "\n")
    return path
