"""Read one structure (a CIF, POSCAR/CONTCAR/.vasp or extxyz file, an extxyz frame, a JSON line) into pymatgen.

Every failure becomes a one-line reason naming the problem, so a batch can report it per file.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pymatgen.core import Structure

from bulkmod.errors import BulkmodError

if TYPE_CHECKING:
    from ase import Atoms

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
    return _guarded(str(path), lambda: _parse(path))


def read_frame(text: str, name: str) -> Structure:
    """Parse one extxyz frame cut from a multi-frame stream; errors name ``name`` like ``read_structure``."""
    from ase.io import read as ase_read

    return _guarded(name, lambda: _periodic(ase_read(io.StringIO(text), format="extxyz"), name))


def structure_from_dict(row: dict, name: str) -> Structure:
    """A pymatgen ``Structure.as_dict()``, bare or under a ``structure`` key (one JSON-lines row)."""
    return _guarded(name, lambda: Structure.from_dict(row.get("structure", row)))


def _guarded(name: str, parse: Callable[[], Structure]) -> Structure:
    """Run a parser; any failure becomes one ``BulkmodError`` line naming the input and the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = parse()
    except BulkmodError:
        raise
    except Exception as exc:  # parsers raise anything from ValueError to IndexError on junk
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise BulkmodError(f"{name}: could not parse structure ({msg})") from None
    if structure is None or len(structure) == 0:
        raise BulkmodError(f"{name}: no atoms found")
    return structure


def _periodic(atoms: Atoms, name: str) -> Structure:
    from pymatgen.io.ase import AseAtomsAdaptor

    if not atoms.cell.any() or not all(atoms.pbc):
        raise BulkmodError(f"{name}: no periodic cell (a crystal needs Lattice=... and pbc)")
    return AseAtomsAdaptor.get_structure(atoms)


def _parse(path: Path) -> Structure:
    suffix = path.suffix.lower()
    if suffix in (".extxyz", ".xyz"):
        from ase.io import read as ase_read

        return _periodic(ase_read(path, index=0), str(path))
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
