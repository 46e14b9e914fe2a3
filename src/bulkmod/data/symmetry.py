"""Space-group detection, in the data layer because the ``mp-kvrh-all`` join needs it.

The join keys a material by (reduced formula, space group) when it matches sources without an MP id; the
space-group features use it too.
"""

from __future__ import annotations

import warnings

from pymatgen.core import Structure


def spacegroup_number(structure: Structure, symprec: float = 0.1) -> int:
    """Space group found by spglib; 0 when symmetry detection fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:
        return 0
