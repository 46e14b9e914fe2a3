"""Read one structure file (CIF, POSCAR/CONTCAR/.vasp, extxyz) into a pymatgen Structure.

Every failure becomes a one-line reason naming the problem, so a batch can report it per file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pymatgen.core import Structure

from bulkmod.errors import BulkmodError

STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".extxyz", ".xyz", ".json")
POSCAR_NAMES = ("POSCAR", "CONTCAR")


def is_structure_file(path: Path) -> bool:
    return path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.upper().startswith(POSCAR_NAMES)


def read_structure(path: Path | str) -> Structure:
    """Parse ``path``; raise ``BulkmodError`` with the file name and the reason on any failure."""
    path = Path(path)
    if not path.exists():
        raise BulkmodError(f"{path}: no such file")
    if path.is_dir():
        raise BulkmodError(f"{path}: is a directory, not a structure file")
    if path.stat().st_size == 0:
        raise BulkmodError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = _parse(path)
    except BulkmodError:
        raise
    except Exception as exc:  # parsers raise anything from ValueError to IndexError on junk
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise BulkmodError(f"{path}: could not parse structure ({msg})") from None
    if structure is None or len(structure) == 0:
        raise BulkmodError(f"{path}: no atoms found")
    return structure


def _parse(path: Path) -> Structure:
    suffix = path.suffix.lower()
    if suffix in (".extxyz", ".xyz"):
        from ase.io import read as ase_read
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = ase_read(path, index=0)
        if not atoms.cell.any() or not all(atoms.pbc):
            raise BulkmodError(f"{path}: no periodic cell (a crystal needs Lattice=... and pbc)")
        return AseAtomsAdaptor.get_structure(atoms)
    if suffix == ".cif":
        from pymatgen.io.cif import CifParser

        structures = CifParser(path).parse_structures(primitive=False)
        if not structures:
            raise BulkmodError(f"{path}: CIF holds no structure")
        return structures[0]
    if suffix in (".vasp", ".poscar") or path.name.upper().startswith(POSCAR_NAMES):
        from pymatgen.io.vasp import Poscar

        return Poscar.from_file(path, check_for_potcar=False).structure
    return Structure.from_file(path)
