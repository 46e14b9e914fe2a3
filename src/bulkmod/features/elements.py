"""Element property tables indexed by atomic number, built once from pymatgen and matminer's Magpie data."""

from __future__ import annotations

import math
import warnings
from functools import cache

import numpy as np
from pymatgen.core import Element

N_Z = 104  # Z = 1..103 used; row 0 unused

MAGPIE_PROPS = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence", "NsUnfilled",
    "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa", "GSbandgap", "GSmagmom",
    "SpaceGroupNumber",
)  # fmt: skip  # the 22 properties of matminer's "magpie" ElementProperty preset


# elemental properties tied to cohesion and stiffness, beyond the Magpie preset (Miedema phi and n_ws^1/3,
# elemental bulk/shear moduli, molar volume, polarizability, ...)
EXTRA_PROPS = (
    "BulkModulus",
    "ShearModulus",
    "MolarVolume",
    "Density",
    "Polarizability",
    "FirstIonizationEnergy",
    "ElectronAffinity",
    "HeatFusion",
    "BoilingT",
    "phi",
    "n_ws^third",
    "MiracleRadius",
)


@cache
def element_table(props: tuple[str, ...] = MAGPIE_PROPS) -> np.ndarray:
    """(N_Z, len(props)) array of matminer Magpie-data properties; NaN where there is no value."""
    from matminer.utils.data import MagpieData

    data = MagpieData().all_elemental_props
    table = np.full((N_Z, len(props)), np.nan)
    for z in range(1, N_Z):
        sym = Element.from_Z(z).symbol
        for j, prop in enumerate(props):
            val = data[prop].get(sym)
            if val is not None:
                table[z, j] = float(val)
    return table


def magpie_table() -> np.ndarray:
    """The Magpie element properties by Z, one column per ``MAGPIE_PROPS`` entry."""
    return element_table(MAGPIE_PROPS)


@cache
def radius_table() -> tuple[np.ndarray, np.ndarray]:
    """Atomic radii (Angstrom) by Z and a flag where the value was imputed.

    pymatgen has no empirical atomic radius for some elements (noble gases such as Kr, heavy actinides):
    those fall back to the calculated radius, then to Magpie's covalent radius, and are flagged.
    """
    radii = np.full(N_Z, np.nan)
    imputed = np.zeros(N_Z, dtype=bool)
    cov = magpie_table()[:, MAGPIE_PROPS.index("CovalentRadius")] / 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, N_Z):
            el = Element.from_Z(z)
            r = el.atomic_radius
            if r is None:
                imputed[z] = True
                r = el.atomic_radius_calculated or cov[z]
            radii[z] = float(r)
    return radii, imputed


@cache
def electronegativity_table() -> np.ndarray:
    """Pauling electronegativity by Z; Magpie's (imputed) value where pymatgen has none (He, Ne, Ar)."""
    out = magpie_table()[:, MAGPIE_PROPS.index("Electronegativity")].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, N_Z):
            x = Element.from_Z(z).X
            if x is not None and not math.isnan(x):
                out[z] = x
    return out


@cache
def mass_table() -> np.ndarray:
    """Atomic weights by Z, from the Magpie table."""
    return magpie_table()[:, MAGPIE_PROPS.index("AtomicWeight")]
