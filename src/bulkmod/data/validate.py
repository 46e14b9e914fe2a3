"""Turn raw rows into a ``Dataset`` while recording every rejected or suspicious row.

Loaders never filter on their own: they hand raw rows here, so every dataset (shared benchmark files,
user CSVs, CGCNN folders, prediction inputs) is checked by the same rules and the same report.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Composition, Element, Structure

from bulkmod.data.records import Dataset, Problem, ValidationReport

MIN_DISTANCE_A = 0.5  # closer atoms are overlapping: a broken file, not a crystal
ISOLATION_RADIUS_A = 12.0  # an atom with no neighbour this close is a molecule in a box, not a crystal
SPARSE_VOLUME_A3 = 100.0  # only cells this sparse (volume per atom) can hold such an atom: check them alone
DEFAULT_MAX_ATOMS = 500  # cap on sites per structure; raise it with BULKMOD_MAX_ATOMS
NEIGHBOR_RADIUS_A = 6.0
# mean neighbours per atom within NEIGHBOR_RADIUS_A; real crystals stay well below
# (benchmarks/results/input_caps/input_caps.json). Every model and potential builds neighbour lists, so a crystal
# squeezed far beyond any real density (atoms just over MIN_DISTANCE_A apart) would make them grow without bound:
# it is refused here, first.
DEFAULT_MAX_NEIGHBORS = 300
MAX_Z = 103  # the element tables (Magpie) end at lawrencium
TARGET_CONFLICT_LOG10 = 0.05  # two labels of one material further apart than this are reported as a conflict


def max_atoms_cap() -> int:
    """The cap on sites per structure: ``BULKMOD_MAX_ATOMS``, or the default."""
    return int(os.environ.get("BULKMOD_MAX_ATOMS", DEFAULT_MAX_ATOMS))


def max_neighbors_cap() -> int:
    """The cap on mean neighbours per atom: ``BULKMOD_MAX_NEIGHBORS``, or the default."""
    return int(os.environ.get("BULKMOD_MAX_NEIGHBORS", DEFAULT_MAX_NEIGHBORS))


@dataclass
class RawRow:
    """What a loader read for one row, before any checking. ``error`` is a parse failure."""

    id: str
    source: str
    structure: Structure | None = None
    composition: Composition | None = None
    k_vrh: float = math.nan
    g_vrh: float = math.nan
    spacegroup: int = 0
    error: str | None = None


def structure_hash(structure: Structure, decimals: int = 4) -> str:
    """Hash invariant to site order (sites are sorted), used as the feature/graph cache key."""
    frac = np.mod(np.round(structure.frac_coords, decimals), 1.0)
    frac = np.round(frac, decimals) % 1.0
    species = [str(s.specie) for s in structure]
    order = sorted(range(len(structure)), key=lambda i: (species[i], *frac[i]))
    h = hashlib.sha256()
    h.update(np.round(structure.lattice.matrix, decimals).tobytes())
    for i in order:
        h.update(species[i].encode())
        h.update(frac[i].tobytes())
    return h.hexdigest()[:32]


def material_key(structure: Structure | None, composition: Composition, spacegroup: int = 0) -> str:
    """What makes two rows one material: the same structure, or (without one) formula and space group."""
    if structure is not None:
        return "s:" + structure_hash(structure)
    return f"f:{composition.reduced_formula}:{int(spacegroup)}"


def _duplicate_reason(row: RawRow, first: RawRow, key: str) -> str:
    # only an identical structure is surely the same material; a formula may name polymorphs of one space group
    if key.startswith("s:"):
        reason = f"duplicate structure of {first.id} (kept in its CV fold)"
    else:
        reason = f"same formula and space group as {first.id}"
    both = np.array([row.k_vrh, first.k_vrh])
    if np.isfinite(both).all() and (both > 0).all() and abs(np.diff(np.log10(both))[0]) > TARGET_CONFLICT_LOG10:
        reason += f"; conflicting targets: {row.k_vrh:.4g} vs {first.k_vrh:.4g} GPa"
    return reason


def material_groups(ds: Dataset) -> np.ndarray:
    """One integer per row; rows holding the same structure share it, so no CV split can part them."""
    if ds.structures is None:
        return np.arange(len(ds))
    first: dict[str, int] = {}
    return np.array([first.setdefault(structure_hash(s), i) for i, s in enumerate(ds.structures)], dtype=int)


def check_composition(comp: Composition) -> str | None:
    """Return why a composition cannot be used (empty, unknown species, beyond the element tables), or None."""
    if comp is None or comp.num_atoms <= 0:
        return "empty composition"
    for el in comp.elements:
        if not isinstance(el, Element):
            return f"dummy or unknown species {el}"
        if el.Z > MAX_Z:
            return f"element {el.symbol} (Z = {el.Z}) is beyond the elements bulkmod has data for (Z <= {MAX_Z})"
    return None


def check_structure(structure: Structure, max_atoms: int | None = None) -> str | None:
    """Return why a structure cannot be used, or None."""
    max_atoms = max_atoms or max_atoms_cap()
    if len(structure) == 0:
        return "structure has no sites"
    if len(structure) > max_atoms:
        return f"{len(structure)} sites exceeds the cap of {max_atoms} (raise it with BULKMOD_MAX_ATOMS)"
    if not structure.is_ordered:
        return "disordered sites (partial occupancy): order the structure first"
    species = {sp for site in structure for sp in site.species}
    for sp in species:
        if not isinstance(sp, Element) and not isinstance(getattr(sp, "element", None), Element):
            return f"dummy or unknown species {sp}"
    volume = structure.lattice.volume
    if not np.isfinite(volume) or volume <= 1e-6:
        return f"lattice volume {volume:.3g} A^3 is not positive"
    if not np.all(np.isfinite(structure.frac_coords)):
        return "non-finite atomic coordinates"
    if len(structure) > 1 or min(structure.lattice.abc) < MIN_DISTANCE_A:
        dmin = _min_distance(structure)
        if dmin < MIN_DISTANCE_A:
            return f"overlapping atoms ({dmin:.2f} A apart, minimum {MIN_DISTANCE_A} A)"
    if (why := _too_dense(structure)) is not None:
        return why
    if volume / len(structure) > SPARSE_VOLUME_A3:
        centers, _, _, _ = structure.get_neighbor_list(ISOLATION_RADIUS_A)
        if len(np.unique(centers)) < len(structure):
            return f"isolated atom: no neighbour within {ISOLATION_RADIUS_A} A (a molecule or atom in a box?)"
    return None


def _too_dense(structure: Structure) -> str | None:
    """Refuse before any neighbour list of a model is built; a cell dense on average is refused unsearched."""
    cap = max_neighbors_cap()
    sphere = 4.0 / 3.0 * math.pi * NEIGHBOR_RADIUS_A**3
    per_atom = sphere * len(structure) / structure.lattice.volume
    if per_atom <= 4 * cap:
        centers, _, _, _ = structure.get_neighbor_list(NEIGHBOR_RADIUS_A)
        per_atom = len(centers) / len(structure)
    if per_atom > cap:
        return (
            f"unphysically dense: {per_atom:.0f} neighbours per atom within {NEIGHBOR_RADIUS_A:g} A exceeds the cap "
            f"of {cap} (wrong cell or units? raise it with BULKMOD_MAX_NEIGHBORS)"
        )
    return None


def _min_distance(structure: Structure) -> float:
    _, _, _, dist = structure.get_neighbor_list(MIN_DISTANCE_A + 0.01)
    return float(dist.min()) if len(dist) else math.inf


def check_target(k: float) -> str | None:
    """Return why a modulus cannot be a target (not finite, or not positive so no log10), or None."""
    if k is None or not np.isfinite(k):
        return "modulus is NaN or infinite"
    if k <= 0:
        return f"non-positive modulus {k:g} GPa (log10 undefined)"
    return None


def build_dataset(
    name: str, rows: list[RawRow], *, require_target: bool = True, max_atoms: int | None = None
) -> Dataset:
    """Validate raw rows; keep the good ones and report every rejected row with its reason."""
    report = ValidationReport(n_read=len(rows))
    keep: list[RawRow] = []
    seen_ids: dict[str, int] = {}
    seen_material: dict[str, RawRow] = {}
    for i, row in enumerate(rows):
        reason = row.error
        if reason is None and row.structure is not None:
            reason = check_structure(row.structure, max_atoms)
            if reason is None:
                row.composition = row.structure.composition
        if reason is None:
            reason = check_composition(row.composition)
        if reason is None and require_target:
            reason = check_target(row.k_vrh)
        if reason is None and row.id in seen_ids:
            reason = f"duplicate id (first seen at row {seen_ids[row.id]})"
        if reason is not None:
            report.problems.append(Problem(i, row.id, row.source, reason))
            continue
        seen_ids[row.id] = i
        key = material_key(row.structure, row.composition, row.spacegroup)
        if key in seen_material:
            why = _duplicate_reason(row, seen_material[key], key)
            report.problems.append(Problem(i, row.id, row.source, why, rejected=False))
        else:
            seen_material[key] = row
        keep.append(row)
    has_struct = bool(keep) and all(r.structure is not None for r in keep)
    return Dataset(
        name=name,
        ids=[r.id for r in keep],
        compositions=[r.composition for r in keep],
        k_vrh=np.array([r.k_vrh for r in keep], dtype=float),
        structures=[r.structure for r in keep] if has_struct else None,
        g_vrh=np.array([r.g_vrh for r in keep], dtype=float),
        spacegroup=np.array([r.spacegroup for r in keep], dtype=int),
        report=report,
    )
