"""Space-group features: number, crystal system, lattice centring, point-group order."""

from __future__ import annotations

from functools import cache

import numpy as np

CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
CENTRINGS = ("P", "I", "F", "C", "A", "R")


def spacegroup_names() -> list[str]:
    return [
        "spg_number",
        "spg_point_group_order",
        *[f"crys_{c}" for c in CRYSTAL_SYSTEMS],
        *[f"centring_{c}" for c in CENTRINGS],
    ]


@cache
def _row(number: int) -> tuple[float, ...]:
    if not 1 <= number <= 230:
        return (np.nan,) * len(spacegroup_names())
    from pymatgen.symmetry.groups import SpaceGroup

    sg = SpaceGroup.from_int_number(number)
    symbol = sg.symbol.split(":")[0]
    centring = symbol[0] if symbol[0] in CENTRINGS else "P"
    order = len(sg.symmetry_ops) / {"P": 1, "I": 2, "F": 4, "C": 2, "A": 2, "R": 3}[centring]
    return (
        float(number),
        float(order),
        *[float(sg.crystal_system == c) for c in CRYSTAL_SYSTEMS],
        *[float(centring == c) for c in CENTRINGS],
    )


def spacegroup_features(numbers: np.ndarray) -> np.ndarray:
    return np.array([_row(int(n)) for n in numbers], dtype=float)
