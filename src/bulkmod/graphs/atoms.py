"""CGCNN-style one-hot atom features built from pymatgen and Magpie element data.

The original CGCNN shipped a 92-dim ``atom_init.json`` of binned element properties. We rebuild the
same kind of encoding from bulkmod's own element tables (no file copied), so its columns do NOT mean
what the original columns meant: a legacy checkpoint's embedding can never be reused as is.
"""

from __future__ import annotations

import contextlib
import warnings
from functools import cache

import numpy as np
from pymatgen.core import Element

from bulkmod.features.elements import MAGPIE_PROPS, N_Z, electronegativity_table, magpie_table

N_BINS = 10
# (name, number of one-hot columns); the order is the column order of the feature matrix
BLOCKS = (
    ("group", 18), ("period", 7), ("electronegativity", N_BINS), ("covalent_radius", N_BINS),
    ("valence_electrons", 12), ("ionisation_energy", N_BINS), ("electron_affinity", N_BINS),
    ("block", 4), ("atomic_volume", N_BINS),
)  # fmt: skip
ATOM_FEATURE_DIM = sum(n for _, n in BLOCKS)


def _binned(values: np.ndarray) -> np.ndarray:
    """Quantile bins over the known elements: every bin holds about as many elements; NaN -> all zero."""
    out = np.zeros((len(values), N_BINS))
    known = np.isfinite(values)
    edges = np.nanquantile(values[known], np.linspace(0, 1, N_BINS + 1)[1:-1])
    out[np.flatnonzero(known), np.searchsorted(edges, values[known], side="right")] = 1.0
    return out


def _categorical(values: np.ndarray, n: int, first: int = 1) -> np.ndarray:
    out = np.zeros((len(values), n))
    known = np.isfinite(values)
    idx = np.clip(values[known].astype(int) - first, 0, n - 1)
    out[np.flatnonzero(known), idx] = 1.0
    return out


def _pymatgen_props() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First ionisation energy (eV), electron affinity (eV) and block index (s, p, d, f) by Z."""
    ie, ea, block = (np.full(N_Z, np.nan) for _ in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, N_Z):
            el = Element.from_Z(z)
            with contextlib.suppress(IndexError, TypeError, ValueError):
                ie[z] = el.ionization_energies[0]
            with contextlib.suppress(TypeError, ValueError):
                ea[z] = float(el.electron_affinity)
            block[z] = "spdf".index(el.block)
    return ie, ea, block


@cache
def atom_feature_table() -> np.ndarray:
    """(N_Z, ATOM_FEATURE_DIM) float32 one-hot table; row 0 (no element) is all zero."""
    magpie = magpie_table()
    col = lambda name: magpie[:, MAGPIE_PROPS.index(name)]  # noqa: E731
    ie, ea, block = _pymatgen_props()
    parts = {
        "group": _categorical(col("Column"), 18),
        "period": _categorical(col("Row"), 7),
        "electronegativity": _binned(electronegativity_table()),
        "covalent_radius": _binned(col("CovalentRadius")),
        "valence_electrons": _categorical(col("NValence"), 12),
        "ionisation_energy": _binned(ie),
        "electron_affinity": _binned(ea),
        "block": _categorical(block, 4, first=0),
        "atomic_volume": _binned(col("GSvolume_pa")),
    }
    table = np.column_stack([parts[name] for name, _ in BLOCKS]).astype(np.float32)
    table[0] = 0.0
    return table
