"""Space-group features: number, crystal system, lattice centring, point-group order.

The one space-group -> crystal-system map lives here: the features, the neighbour lookups of the descriptor model
and the per-sample columns of a results file all read it.
"""

from __future__ import annotations

from functools import cache

import numpy as np

CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
_LAST_SPACEGROUP = (2, 15, 74, 142, 167, 194, 230)  # the highest number of each crystal system, in that order
CENTRINGS = ("P", "I", "F", "C", "A", "R")


def crystal_system(numbers: np.ndarray) -> np.ndarray:
    """Index into ``CRYSTAL_SYSTEMS`` per space-group number; -1 where the number is unknown (0, NaN, out of range)."""
    spg = np.nan_to_num(np.asarray(numbers, dtype=float), nan=0.0).astype(int)
    return np.where((spg >= 1) & (spg <= 230), np.searchsorted(_LAST_SPACEGROUP, spg), -1)


def crystal_system_names(numbers: np.ndarray) -> list[str]:
    """``CRYSTAL_SYSTEMS`` names per space-group number, ``"unknown"`` where it is unknown."""
    return [CRYSTAL_SYSTEMS[i] if i >= 0 else "unknown" for i in crystal_system(numbers)]


def spacegroup_names() -> list[str]:
    """Column names of :func:`spacegroup_features`, in its order."""
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
    system = crystal_system(np.array([number]))[0]
    return (
        float(number),
        float(order),
        *[float(system == k) for k in range(len(CRYSTAL_SYSTEMS))],
        *[float(centring == c) for c in CENTRINGS],
    )


def spacegroup_features(numbers: np.ndarray) -> np.ndarray:
    """Space-group number, point-group order and one-hot crystal system and centring; NaN for an unknown group."""
    return np.array([_row(int(n)) for n in numbers], dtype=float)
