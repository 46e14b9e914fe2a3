"""Read one structure (a CIF, POSCAR/CONTCAR/.vasp or extxyz file, an extxyz frame, a JSON object) into pymatgen.

Input files are untrusted. Nothing here imports a module an input names: a JSON structure is rebuilt from its
lattice, species, coordinates and plain scalar site properties by hand, never through pymatgen's ``from_dict``
(monty's decoder imports whatever ``@module`` a nested dict names). Files are size-capped before they are read,
and formats whose parsers drop or invent data quietly (a CIF site with occupancy 0, a negative cell length, a
POSCAR without its element line) are checked first, so every failure is a one-line reason a user can act on.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import warnings
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Element, Lattice, Species, Structure

from bulkmod.data.validate import max_atoms_cap
from bulkmod.errors import BulkmodError

if TYPE_CHECKING:
    from ase import Atoms

STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".extxyz", ".xyz", ".json")
POSCAR_NAMES = ("POSCAR", "CONTCAR")
DEFAULT_MAX_FILE_MB = 64  # one structure file (or one JSON line / extxyz frame); a 500-atom CIF is ~50 kB
OCCUPANCY_TOL = 1e-3
_STRUCTURE_CLASSES = ("Structure", "IStructure")
_SCALAR = (str, int, float, bool)


def max_file_bytes() -> int:
    """The size cap on one structure input: ``BULKMOD_MAX_FILE_MB`` megabytes."""
    return int(float(os.environ.get("BULKMOD_MAX_FILE_MB", DEFAULT_MAX_FILE_MB)) * 1e6)


def too_large(n_bytes: int) -> str:
    """Why a file of ``n_bytes`` is refused, naming the cap and the variable that raises it."""
    cap = max_file_bytes() / 1e6
    return f"{n_bytes / 1e6:.3g} MB exceeds the {cap:g} MB cap per structure (raise BULKMOD_MAX_FILE_MB)"


def structure_format(path: Path) -> str | None:
    """The format bulkmod reads ``path`` in, by the file's name: ``extxyz``, ``cif``, ``poscar`` or ``json``.

    POSCAR/CONTCAR may stand anywhere in the name, as VASP tools name them: ``POSCAR_GaAs``, ``Si.CONTCAR``.
    None for a name bulkmod does not read.
    """
    suffix = path.suffix.lower()
    if suffix in (".extxyz", ".xyz"):
        return "extxyz"
    if suffix == ".cif":
        return "cif"
    if suffix in (".vasp", ".poscar") or any(n in path.name.upper() for n in POSCAR_NAMES):
        return "poscar"
    return "json" if suffix == ".json" else None


def is_structure_file(path: Path) -> bool:
    """Whether bulkmod reads ``path`` as a structure, judged by its name alone, as :func:`structure_format` does."""
    return structure_format(path) is not None


def read_structure(path: Path | str) -> Structure:
    """Parse ``path``; raise ``BulkmodError`` with the file name and the reason on any failure."""
    path = Path(path)
    if not path.exists():
        raise BulkmodError(f"{path}: no such file")
    if path.is_dir():
        raise BulkmodError(f"{path}: is a directory, not a structure file")
    if not path.is_file():
        raise BulkmodError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise BulkmodError(f"{path}: empty file")
    if size > max_file_bytes():
        raise BulkmodError(f"{path}: {too_large(size)}")
    return _guarded(str(path), lambda: _parse(path))


def read_frame(text: str, name: str) -> Structure:
    """Parse one extxyz frame cut from a multi-frame stream; errors name ``name`` like ``read_structure``."""
    from ase.io import read as ase_read

    return _guarded(name, lambda: _periodic(ase_read(io.StringIO(text), format="extxyz"), name))


def structure_from_dict(row: Any, name: str) -> Structure:
    """A pymatgen ``Structure.as_dict()``, bare or under a ``structure`` key (one JSON-lines row), read safely."""
    inner = row.get("structure", row) if isinstance(row, dict) else row
    return _guarded(name, lambda: safe_structure(inner))


def structure_from_text(text: str, fmt: str, name: str) -> Structure:
    """A CIF or POSCAR held in a string (a dataset column), read with the same checks as a file."""
    parsers = {"cif": _parse_cif, "poscar": _parse_poscar}
    if fmt not in parsers:
        raise BulkmodError(f"{name}: no text reader for {fmt!r} (use {', '.join(parsers)})")
    return _guarded(name, lambda: parsers[fmt](text))


def _guarded(name: str, parse: Callable[[], Structure]) -> Structure:
    """Run a parser; any failure becomes one ``BulkmodError`` line naming the input and the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = parse()
    except BulkmodError as exc:
        msg = str(exc)
        raise BulkmodError(msg if msg.startswith(f"{name}: ") else f"{name}: {msg}") from None
    except RecursionError:
        raise BulkmodError(f"{name}: nested too deeply to be a structure") from None
    except Exception as exc:  # parsers raise anything from ValueError to IndexError on junk
        raise BulkmodError(f"{name}: {_explain(exc)}") from None
    if structure is None or len(structure) == 0:
        raise BulkmodError(f"{name}: no atoms found")
    return structure


def _explain(exc: Exception) -> str:
    """Words a user can act on for the raw messages parsers give on garbled files."""
    raw = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return "could not parse structure: the file is not text (binary or wrong encoding)"
    if isinstance(exc, (IndexError, StopIteration)):
        return f"could not parse structure: the file ends early or a line has too few fields ({raw})"
    return f"could not parse structure ({raw})"


def _periodic(atoms: Atoms, name: str) -> Structure:
    from pymatgen.io.ase import AseAtomsAdaptor

    if not atoms.cell.any() or not all(atoms.pbc):
        raise BulkmodError(f"{name}: no periodic cell (a crystal needs Lattice=... and pbc)")
    return AseAtomsAdaptor.get_structure(atoms)


def _parse(path: Path) -> Structure:
    fmt = structure_format(path)
    if fmt == "extxyz":
        from ase.io import read as ase_read

        return _periodic(ase_read(path, index=0), str(path))
    if fmt is None:
        raise BulkmodError(f"unrecognised file type: name it .cif, .vasp, POSCAR*, .extxyz or .json ({path.name})")
    text = path.read_text(encoding="utf-8", errors="strict")
    return {"cif": _parse_cif, "poscar": _parse_poscar, "json": lambda t: safe_structure(load_json(t))}[fmt](text)


def load_json(text: str) -> Any:
    """``json.loads`` that reports junk and absurd nesting as ``BulkmodError`` instead of a raw exception."""
    try:
        return json.loads(text)
    except RecursionError:
        raise BulkmodError("JSON nested too deeply to be a structure") from None
    except ValueError as exc:
        raise BulkmodError(f"not JSON ({exc})") from None


# -- JSON objects, rebuilt by hand ---------------------------------------------------------------------------------


def safe_structure(d: Any) -> Structure:
    """A ``Structure`` from a ``Structure.as_dict()``-shaped object, importing nothing the object names.

    Only the lattice, each site's species with occupancy (and oxidation state), its coordinates and scalar site
    properties shared by every site are read; ``@module``/``@class``/``@callable`` entries are never followed.
    """
    if not isinstance(d, dict):
        raise BulkmodError("a JSON structure must be an object with 'lattice' and 'sites'")
    cls = d.get("@class")
    if cls is not None and cls not in _STRUCTURE_CLASSES:
        raise BulkmodError(f"JSON object is a {str(cls)[:40]!r}, not a pymatgen Structure")
    lattice = _lattice(d.get("lattice"))
    sites = d.get("sites")
    if not isinstance(sites, list) or not sites:
        raise BulkmodError("JSON structure has no 'sites' list")
    if len(sites) > max_atoms_cap():
        raise BulkmodError(f"{len(sites)} sites exceeds the cap of {max_atoms_cap()} (raise it with BULKMOD_MAX_ATOMS)")
    species, coords, frac = [], [], None
    for j, site in enumerate(sites):
        if not isinstance(site, dict):
            raise BulkmodError(f"site {j} is not an object")
        species.append(_site_species(site.get("species"), j))
        use_frac = "abc" in site
        if frac is None:
            frac = use_frac
        if use_frac != frac:
            raise BulkmodError(f"site {j}: mixes fractional ('abc') and Cartesian ('xyz') coordinates")
        coords.append(_vector(site.get("abc" if use_frac else "xyz"), f"site {j} coordinates", 3))
    return Structure(lattice, species, coords, coords_are_cartesian=not frac, site_properties=_site_props(sites))


def _lattice(lat: Any) -> Lattice:
    if isinstance(lat, dict) and "matrix" not in lat and all(k in lat for k in ("a", "b", "c")):
        a, b, c = (_number(lat[k], f"lattice {k}") for k in "abc")
        angles = [_number(lat.get(k, 90), f"lattice {k}") for k in ("alpha", "beta", "gamma")]
        return cell_from_parameters([a, b, c], angles)
    if isinstance(lat, dict):
        pbc = lat.get("pbc")
        if pbc is not None and not (isinstance(pbc, (list, tuple)) and all(p is True for p in pbc)):
            raise BulkmodError("lattice is not periodic in all three directions (pbc): a crystal needs a 3-D cell")
        lat = lat.get("matrix")
    rows = lat if isinstance(lat, (list, tuple)) and len(lat) == 3 else None
    if rows is None:
        raise BulkmodError("no lattice: need 'lattice': {'matrix': [[..], [..], [..]]} or a, b, c, alpha, beta, gamma")
    return Lattice([_vector(r, "lattice vector", 3) for r in rows])


def cell_from_parameters(lengths: list[float], angles: list[float]) -> Lattice:
    """Check cell parameters a file states (pymatgen silently accepts a negative length) before building them."""
    for name, v in zip("abc", lengths, strict=True):
        if not v > 0:
            raise BulkmodError(f"cell length {name} = {v:g} A: cell lengths must be positive")
    for name, v in zip(("alpha", "beta", "gamma"), angles, strict=True):
        if not 0 < v < 180:
            raise BulkmodError(f"cell angle {name} = {v:g} degrees: angles must lie between 0 and 180")
    lattice = Lattice.from_parameters(*lengths, *angles)
    if not np.isfinite(lattice.volume) or lattice.volume <= 1e-6:
        raise BulkmodError(f"cell angles {', '.join(f'{v:g}' for v in angles)} give no 3-D cell (zero volume)")
    return lattice


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
        raise BulkmodError(f"{what} is {str(v)[:40]!r}, not a finite number")
    return float(v)


def _vector(v: Any, what: str, n: int) -> list[float]:
    if not isinstance(v, (list, tuple)) or len(v) != n:
        raise BulkmodError(f"{what} must be a list of {n} numbers")
    return [_number(x, what) for x in v]


def _site_species(entries: Any, j: int) -> dict[Element | Species, float]:
    if not isinstance(entries, list) or not entries:
        raise BulkmodError(f"site {j} has no species list")
    out: dict[Element | Species, float] = {}
    for e in entries:
        symbol = e.get("element") if isinstance(e, dict) else None
        if not isinstance(symbol, str):
            raise BulkmodError(f"site {j}: a species needs an element symbol")
        occu = e.get("occu", 1.0)
        if isinstance(occu, bool) or not isinstance(occu, Real) or not 0 < occu <= 1 + OCCUPANCY_TOL:
            raise BulkmodError(f"site {j}: occupancy {str(occu)[:20]} of {symbol[:10]} must lie in (0, 1]")
        out[_species(symbol, e.get("oxidation_state"), j)] = float(occu)
    if sum(out.values()) > 1 + OCCUPANCY_TOL:
        raise BulkmodError(f"site {j}: occupancies add up to {sum(out.values()):.3f}, more than 1")
    return out


def _species(symbol: str, oxidation: Any, j: int) -> Element | Species:
    if not Element.is_valid_symbol(symbol):
        raise BulkmodError(f"site {j}: unknown element {symbol[:10]!r}")
    if isinstance(oxidation, Real) and not isinstance(oxidation, bool) and math.isfinite(oxidation):
        return Species(symbol, float(oxidation))
    return Element(symbol)


def _site_props(sites: list[dict]) -> dict[str, list] | None:
    """Scalar properties every site carries (e.g. ``magmom``); nested objects are dropped unread."""
    props = [s.get("properties") if isinstance(s.get("properties"), dict) else {} for s in sites]
    keys = set.intersection(*(set(p) for p in props))
    keep = sorted(k for k in keys if all(isinstance(p[k], _SCALAR) for p in props))
    return {k: [p[k] for p in props] for k in keep} or None


# -- CIF and POSCAR: checks their parsers skip ----------------------------------------------------------------------

_CELL_KEYS = ("_cell_length_a", "_cell_length_b", "_cell_length_c")
_ANGLE_KEYS = ("_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma")
_UNKNOWN = ("?", ".")


def _cif_number(text: str, what: str) -> float | None:
    """A CIF numeric value: ``4.05(2)`` is 4.05; ``?`` and ``.`` mean unknown."""
    text = str(text).strip()
    if text in _UNKNOWN:
        return None
    try:
        value = float(re.sub(r"\(\d+\)$", "", text))
    except ValueError:
        raise BulkmodError(f"CIF {what} is {text[:20]!r}, not a number") from None
    if not math.isfinite(value):
        raise BulkmodError(f"CIF {what} is {text[:20]!r}, not a finite number")
    return value


def _parse_cif(text: str) -> Structure:
    from pymatgen.io.cif import CifFile, CifParser

    try:
        blocks = list(CifFile.from_str(text).data.values())
    except (ZeroDivisionError, ValueError) as exc:  # pymatgen's loop reader divides by the column count
        if isinstance(exc, ZeroDivisionError) or "zip()" in str(exc):
            raise BulkmodError(
                "CIF has an incomplete loop_: a loop without values, or values that do not fill its columns "
                "(is the file cut short, or a value missing?)"
            ) from None
        raise BulkmodError(f"not a readable CIF ({_explain(exc)})") from None
    blocks = [b for b in blocks if "_atom_site_fract_x" in b.data or "_atom_site_Cartn_x" in b.data]
    if not blocks:
        raise BulkmodError("CIF has no atom-site loop (_atom_site_fract_x ...): no atoms to read")
    for block in blocks:
        _check_cif_block(block.data)
    try:
        structures = CifParser.from_str(text).parse_structures(primitive=False)
    except ValueError as exc:
        if "no structures" not in str(exc):
            raise
        structures = []
    if not structures:
        raise BulkmodError("CIF holds no structure pymatgen can build from its atom sites and symmetry operations")
    return structures[0]


def _check_cif_block(data: dict[str, Any]) -> None:
    missing = [k for k in (*_CELL_KEYS, *_ANGLE_KEYS) if k not in data]
    if any(k in missing for k in _CELL_KEYS):
        raise BulkmodError(f"CIF lacks the cell ({', '.join(missing)}): add the cell lengths and angles")
    lengths = [_cif_number(data[k], k) for k in _CELL_KEYS]
    angles = [_cif_number(data.get(k, "90"), k) for k in _ANGLE_KEYS]
    if any(v is None for v in lengths):
        raise BulkmodError("CIF gives a cell length as unknown ('?'): a crystal needs its cell")
    cell_from_parameters(lengths, [90.0 if a is None else a for a in angles])
    for axis in ("x", "y", "z"):
        for key in (f"_atom_site_fract_{axis}", f"_atom_site_Cartn_{axis}"):
            for k, v in enumerate(_column(data, key)):
                if _cif_number(v, f"{key} of atom site {k + 1}") is None:
                    raise BulkmodError(f"CIF atom site {k + 1} has an unknown coordinate ({key} = {v})")
    for k, occ in enumerate(_column(data, "_atom_site_occupancy")):
        value = _cif_number(occ, f"occupancy of atom site {k + 1}")
        if value is not None and not 0 < value <= 1 + OCCUPANCY_TOL:
            raise BulkmodError(f"CIF atom site {k + 1} has occupancy {occ}: occupancies must lie in (0, 1]")


def _column(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    return value if isinstance(value, list) else [value]


def _parse_poscar(text: str) -> Structure:
    from pymatgen.io.vasp import Poscar

    lines = text.splitlines()
    if len(lines) >= 7:
        tokens = lines[5].split()
        if tokens and all(t.isdigit() for t in tokens):  # VASP 4: counts follow the lattice directly
            raise BulkmodError(
                "POSCAR has no element line (VASP 4 format): add a line with the element symbols above the counts"
            )
    return Poscar.from_str(text).structure
