"""Composition features, vectorised over all rows at once.

The Magpie block reproduces matminer's ``ElementProperty.from_preset("magpie")`` (22 properties x
min, max, range, mean, avg_dev, mode) with matrix algebra instead of a Python loop per compound.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Composition

from bulkmod.features.elements import EXTRA_PROPS, MAGPIE_PROPS, N_Z, element_table, magpie_table

MAGPIE_STATS = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
P_NORMS = (2, 3, 5, 7, 10)


def fraction_matrix(compositions: list[Composition]) -> np.ndarray:
    """(n, N_Z) atomic fractions."""
    frac = np.zeros((len(compositions), N_Z))
    for i, comp in enumerate(compositions):
        total = comp.num_atoms
        for el, amt in comp.items():
            frac[i, el.Z] += amt / total
    return frac


def magpie_names(prefix: str = "magpie", props: tuple[str, ...] = MAGPIE_PROPS) -> list[str]:
    """Column names of :func:`magpie_features`, in its order."""
    return [f"{prefix}_{stat}_{prop}" for prop in props for stat in MAGPIE_STATS]


def extra_names() -> list[str]:
    """Column names of :func:`extra_features`, in its order."""
    return magpie_names("elem", EXTRA_PROPS)


def extra_features(frac: np.ndarray) -> np.ndarray:
    """The same six statistics over the cohesion-related ``EXTRA_PROPS``."""
    return magpie_features(frac, EXTRA_PROPS)


def fraction_names() -> list[str]:
    """Column names of the element-fraction features, one per element by atomic number."""
    from pymatgen.core import Element

    return [f"frac_{Element.from_Z(z).symbol}" for z in range(1, N_Z)]


def magpie_features(frac: np.ndarray, props: tuple[str, ...] = MAGPIE_PROPS) -> np.ndarray:
    """(n, 6 * len(props)) in matminer's column order (property-major, then statistic)."""
    table = element_table(props)  # (N_Z, P)
    present = frac > 0
    out = np.empty((len(frac), len(props), len(MAGPIE_STATS)))
    # weighted mean ignoring NaN properties (matminer would return NaN; keep the information instead)
    valid = ~np.isnan(table)
    tab0 = np.where(valid, table, 0.0)
    wsum = frac @ valid.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (frac @ tab0) / wsum
    big = np.where(present[:, :, None], table[None, :, :], np.nan)  # (n, N_Z, P)
    with np.errstate(all="ignore"):
        mins = np.nanmin(np.where(present[:, :, None], big, np.inf), axis=1)
        maxs = np.nanmax(np.where(present[:, :, None], big, -np.inf), axis=1)
        avg_dev = np.nansum(frac[:, :, None] * np.abs(big - mean[:, None, :]), axis=1) / wsum
    # mode: value of the most abundant element; ties go to the smallest value (as matminer)
    top = frac >= frac.max(axis=1, keepdims=True) - 1e-12
    mode = np.nanmin(np.where(top[:, :, None], big, np.inf), axis=1)
    for arr in (mins, maxs, mode):
        arr[~np.isfinite(arr)] = np.nan
    out[:, :, 0], out[:, :, 1], out[:, :, 2] = mins, maxs, maxs - mins
    out[:, :, 3], out[:, :, 4], out[:, :, 5] = mean, avg_dev, mode
    return out.reshape(len(frac), -1)


def stoichiometry_names() -> list[str]:
    """Column names of :func:`stoichiometry_features`, in its order."""
    return ["n_elements", *[f"stoich_p{p}" for p in P_NORMS], *[f"frac_{o}_valence" for o in "spdf"]]


def stoichiometry_features(frac: np.ndarray) -> np.ndarray:
    """Number of elements, fraction p-norms and the s/p/d/f share of valence electrons."""
    table = magpie_table()
    cols = [(frac > 0).sum(axis=1)]
    cols += [np.sum(frac**p, axis=1) ** (1.0 / p) for p in P_NORMS]
    shells = [table[:, MAGPIE_PROPS.index(f"N{o}Valence")] for o in "spdf"]
    per = np.stack([frac @ np.nan_to_num(s) for s in shells], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = per / per.sum(axis=1, keepdims=True)
    return np.column_stack([*cols, per])
