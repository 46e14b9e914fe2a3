"""Space groups (the ``mp-kvrh-all`` join needs them, so they are in the data layer), primitive cells, free coordinates.

The join keys a material by (reduced formula, space group) when it matches sources without an MP id; the
space-group features use it too. The E–V scan runs on the primitive cell (:func:`primitive_cell`), and the ion
strain measure skips the potential where symmetry pins every atom (:func:`free_coordinates`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from pymatgen.core import Lattice, Structure

# Å: only translations the cell really has; a loose tolerance would merge the sites of a slightly distorted crystal
# and scan a different structure
PRIMITIVE_SYMPREC = 1e-3
# fractional: an operation maps a site onto itself when it lands this close to it, modulo the lattice
SITE_TOLERANCE = 1e-3


def spacegroup_number(structure: Structure, symprec: float = 0.1) -> int:
    """Space group found by spglib; 0 when symmetry detection fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:
        return 0


def primitive_cell(structure: Structure, symprec: float = PRIMITIVE_SYMPREC) -> Structure:
    """The smallest cell that repeats to ``structure``, its positions kept (not symmetrised); else ``structure``.

    Energy and volume per atom are the same in both cells, so a per-atom E–V scan gives the same numbers on fewer
    atoms: conventional cells, as CIFs from most sources are, cost a potential several times their primitive cell.
    A supercell's element counts share a factor, so a crystal whose counts do not skips spglib.
    """
    if len(structure) < 2 or not structure.is_ordered:
        return structure
    if math.gcd(*(round(n) for n in structure.composition.values())) < 2:
        return structure
    import spglib

    cell = (structure.lattice.matrix, structure.frac_coords, [site.specie.Z for site in structure])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spglib's notice about its old error handling, on every call
            found = spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=symprec)
    except Exception:  # spglib's own errors on degenerate cells: scan the cell as given
        return structure
    if found is None or len(found[2]) >= len(structure):
        return structure
    lattice, positions, numbers = found
    return Structure(Lattice(lattice), [int(z) for z in numbers], positions)


def free_coordinates(structure: Structure, symprec: float = PRIMITIVE_SYMPREC) -> int | None:
    """How many internal coordinates symmetry leaves free: the free Wyckoff parameters, less a free origin.

    Zero means every atom sits where its site symmetry pins it (rock salt, CsCl, fluorite): a hydrostatic strain
    then puts no force on any ion. Per symmetry-distinct site, the free directions are those every operation
    fixing the site leaves unchanged; a polar space group's free origin (the whole crystal sliding along its
    axis) moves no atom against another and is not counted. None where spglib cannot tell (disordered or
    degenerate cells).
    """
    import spglib

    if not structure.is_ordered:
        return None
    cell = (structure.lattice.matrix, structure.frac_coords, [site.specie.Z for site in structure])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = spglib.get_symmetry_dataset(cell, symprec=symprec)
    except Exception:
        return None
    if found is None:
        return None

    def fixed_directions(rotations) -> int:
        return 3 - int(np.linalg.matrix_rank(np.vstack([r - np.eye(3) for r in rotations]), tol=1e-6))

    free = 0
    for i in np.unique(found.equivalent_atoms):
        x = structure.frac_coords[i]
        moved = found.rotations @ x + found.translations - x
        on_site = np.all(np.abs(moved - np.round(moved)) < SITE_TOLERANCE, axis=1)
        free += fixed_directions(found.rotations[on_site])
    return free - fixed_directions(found.rotations)
