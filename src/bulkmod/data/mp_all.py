"""``mp-kvrh-all``: one row per labelled material, joining every source of K_VRH in the shared data.

Sources, in precedence order. A row's K (and structure) is the first source's that holds the material, the
newest calculation; the other sources' values stay beside it in ``meta`` (``k_<source>`` columns):

1. ``mp_elasticity_2025``: MP elasticity results downloaded in January 2025, the newest calculations.
2. ``mp_elastic_tensors_extra``: MP records from the legacy database (legacy API field names ``elasticity.*``,
   tensor entries rounded to whole GPa), queried after the 2015 paper: newer than 2015, older than 2025.
3. ``elastic_tensor_2015``: the de Jong et al. (2015) snapshot, the oldest calculations.
4. ``matbench``: matbench v0.1 targets (compositions and space groups only). Its values are the legacy MP
   calculations again (they agree with sources 2 and 3 to rounding: see ``benchmarks/results/
   mp_kvrh_all_join/mp_kvrh_all_join.json``), and its identity is inferred from formula and space group, not an
   MP id, so it comes last: an inferred match never overrides a value keyed by MP id.

Identity:

* The three structure sources are keyed by MP id: the same id in several sources is one row.
* A matbench row has no MP id. It joins a material when its key, (reduced formula, space-group number), is
  one-to-one: exactly one structure-bearing material and exactly one matbench row have it. A material's space
  group is detected from its chosen structure (``spacegroup_number``, symprec 0.1 as MP uses).
* Otherwise (several materials or several matbench rows share the key) the matbench row stays its own row,
  without a structure, flagged ``ambiguous match`` with its candidates in ``meta.ambiguous_with``: a structure
  is recovered only when the match is unique, and ``matbench_linked_rows`` keeps the candidates out of
  training when that matbench row is tested. Matbench rows that match nothing are their own rows too (id =
  mbid). Matbench rows never merge with each other: each is a distinct MP entry, even when two share a key.

The report holds every source's own rejections and flags (broken tensors, K <= 0, unparseable rows,
duplicates) under the source's file name and row, then the join's flags under ``mp-kvrh-all`` and the joined
row: ``conflict`` (log10 K spread over a material's sources above ``CONFLICT_LOG10``) and ``ambiguous match``.

The joined table is cached in ``cache_dir("datasets")`` as one npz of plain arrays, keyed by the sha256 of
each source file, of the code that builds it and the settings validation reads; any change rebuilds it.
Structures are stored as lattice matrix, species strings and fractional coordinates and rebuilt with the
``Structure`` constructor, so loading decodes no pickle and no monty JSON. Site properties (e.g. magnetic
moments) are not kept: no model reads them.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sys
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Lattice, Structure

from bulkmod.data.loaders import (
    ELASTIC_2015_FILE,
    MATBENCH_KVRH_COMP_FILE,
    MP_BINARY_2025_FILE,
    MP_EXTRA_TENSORS_FILE,
    load_elastic_2015,
    load_matbench_comp,
    load_mp_binary_2025,
    load_mp_extra_tensors,
)
from bulkmod.data.records import Dataset, Problem, ValidationReport
from bulkmod.data.symmetry import spacegroup_number
from bulkmod.data.validate import max_atoms_cap
from bulkmod.errors import BulkmodError
from bulkmod.io import atomic_path, cache_dir, sha256_file, shared_data_dir

NAME = "mp-kvrh-all"
MATBENCH_RECOVERED = "matbench-log-kvrh-recovered"
MATBENCH = "matbench"
STRUCTURE_SOURCES: dict[str, Callable[[], Dataset]] = {  # in precedence order, newest first
    "mp_elasticity_2025": load_mp_binary_2025,
    "mp_elastic_tensors_extra": load_mp_extra_tensors,
    "elastic_tensor_2015": load_elastic_2015,
}
SOURCES = (*STRUCTURE_SOURCES, MATBENCH)
SOURCE_FILES = {
    "mp_elasticity_2025": MP_BINARY_2025_FILE,
    "mp_elastic_tensors_extra": MP_EXTRA_TENSORS_FILE,
    "elastic_tensor_2015": ELASTIC_2015_FILE,
    MATBENCH: MATBENCH_KVRH_COMP_FILE,
}
CONFLICT_LOG10 = 0.05  # above MP's own 2015-vs-2025 label noise: the sources disagree about this material
CODE_MODULES = ("bulkmod.data.mp_all", "bulkmod.data.loaders", "bulkmod.data.validate", "bulkmod.data.symmetry")
CACHE_FILE = "mp-kvrh-all.npz"
META_STR = ("sources", "k_source", "mbid", "ambiguous_with")  # the other meta columns are numbers
PROBLEM_FIELDS = {"row": int, "id": str, "source": str, "reason": str, "rejected": bool}


@dataclass
class _Material:
    """One joined row while it is assembled: K and G by source, in the order the sources were read."""

    id: str
    composition: Composition
    structure: Structure | None
    spacegroup: int = 0
    k: dict[str, float] = field(default_factory=dict)
    g: dict[str, float] = field(default_factory=dict)
    mbid: str = ""
    ambiguous_with: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> str:
        return next(s for s in SOURCES if s in self.k)


def load_mp_kvrh_all() -> Dataset:
    """The joined dataset, from the cache when it matches the current sources and code, else built and cached."""
    key = cache_key()
    path = cache_dir("datasets") / CACHE_FILE
    ds = read_cache(path, key)
    if ds is None:
        print(f"{NAME}: joining {', '.join(SOURCES)} (once; cached in {path})", file=sys.stderr)
        ds = build_mp_kvrh_all()
        write_cache(path, key, ds)
    return ds


def build_mp_kvrh_all() -> Dataset:
    """Join the sources (see the module docstring for the identity and precedence rules)."""
    parts = {name: loader() for name, loader in STRUCTURE_SOURCES.items()}
    matbench = load_matbench_comp()
    materials = _join_by_mp_id(parts)
    own_rows, ambiguous = _attach_matbench(materials, matbench)
    rows = [*materials.values(), *own_rows]
    first_own = len(materials)
    problems = [p for part in (*parts.values(), matbench) for p in part.report.problems]
    problems += [Problem(first_own + i, own_rows[i].id, NAME, reason, rejected=False) for i, reason in ambiguous]
    problems += [Problem(i, m.id, NAME, reason, rejected=False) for i, m in enumerate(rows) if (reason := _conflict(m))]
    report = ValidationReport(
        n_read=sum(part.report.n_read for part in (*parts.values(), matbench)), problems=problems, n_joined=len(rows)
    )
    return _dataset(rows, report)


def _join_by_mp_id(parts: dict[str, Dataset]) -> dict[str, _Material]:
    """One material per MP id; its structure is the first source's (newest first), its space group detected."""
    materials: dict[str, _Material] = {}
    for name, part in parts.items():
        for mid, comp, structure, k, g in zip(
            part.ids, part.compositions, part.row_structures, part.k_vrh, part.g_vrh, strict=True
        ):
            m = materials.setdefault(mid, _Material(mid, comp, structure))
            m.k[name], m.g[name] = float(k), float(g)
    for m in materials.values():
        m.spacegroup = spacegroup_number(m.structure)
    return materials


def _attach_matbench(
    materials: dict[str, _Material], matbench: Dataset
) -> tuple[list[_Material], list[tuple[int, str]]]:
    """Join each matbench row whose (formula, space group) key is one-to-one; the others become own rows.

    Returns the own rows and, for those that had candidates, (own-row index, why it is ambiguous).
    """
    by_key: dict[tuple[str, int], list[str]] = defaultdict(list)
    for m in materials.values():
        by_key[(m.composition.reduced_formula, m.spacegroup)].append(m.id)
    keys = [(c.reduced_formula, int(sg)) for c, sg in zip(matbench.compositions, matbench.spacegroup, strict=True)]
    mbids_by_key: dict[tuple[str, int], list[str]] = defaultdict(list)
    for mbid, key in zip(matbench.ids, keys, strict=True):
        mbids_by_key[key].append(mbid)
    own: list[_Material] = []
    ambiguous: list[tuple[int, str]] = []
    for mbid, comp, key, k in zip(matbench.ids, matbench.compositions, keys, matbench.k_vrh, strict=True):
        candidates = by_key.get(key, [])
        if len(candidates) == 1 and len(mbids_by_key[key]) == 1:
            target = materials[candidates[0]]
        else:
            target = _Material(mbid, comp, None, spacegroup=key[1], ambiguous_with=list(candidates))
            if candidates:
                ambiguous.append((len(own), _ambiguity(key, candidates, mbids_by_key[key])))
            own.append(target)
        target.k[MATBENCH], target.mbid = float(k), mbid
    return own, ambiguous


def _ambiguity(key: tuple[str, int], candidates: list[str], mbids: list[str]) -> str:
    return (
        f"ambiguous match: {key[0]} in space group {key[1]} is held by {len(candidates)} material(s) with a "
        f"structure ({', '.join(candidates)}) and {len(mbids)} matbench row(s) ({', '.join(mbids)}); "
        "kept as its own row without a structure"
    )


def _conflict(m: _Material) -> str | None:
    logs = [math.log10(k) for k in m.k.values()]
    spread = max(logs) - min(logs)
    if spread <= CONFLICT_LOG10:
        return None
    values = ", ".join(f"{s} {m.k[s]:.4g} GPa" for s in SOURCES if s in m.k)
    return (
        f"conflict: log10 K differs by {spread:.3f} > {CONFLICT_LOG10} between sources ({values}); "
        f"kept {m.chosen} (newest calculation)"
    )


def _dataset(rows: list[_Material], report: ValidationReport) -> Dataset:
    meta = pd.DataFrame(
        {
            "sources": [";".join(s for s in SOURCES if s in m.k) for m in rows],
            "k_source": [m.chosen for m in rows],
            **{f"k_{s}": [m.k.get(s, math.nan) for m in rows] for s in SOURCES},
            "mbid": [m.mbid for m in rows],
            "ambiguous_with": [";".join(m.ambiguous_with) for m in rows],
            "n_elements": [len(m.composition.elements) for m in rows],
        }
    )
    return Dataset(
        name=NAME,
        ids=[m.id for m in rows],
        compositions=[m.composition for m in rows],
        k_vrh=np.array([m.k[m.chosen] for m in rows], dtype=float),
        g_vrh=np.array([m.g.get(m.chosen, math.nan) for m in rows], dtype=float),
        spacegroup=np.array([m.spacegroup for m in rows], dtype=int),
        report=report,
        partial_structures=[m.structure for m in rows],
        meta=meta,
    )


def load_matbench_recovered() -> Dataset:
    """``matbench-log-kvrh-comp`` with the structures the join recovered.

    Every matbench row keeps its own target (no K from another source) and gains the structure of the one
    material its (formula, space group) key matched.

    Only one-to-one matches give a structure (``mp-kvrh-all`` rules); the other rows keep their composition and
    space group alone. ``meta.structure_from`` names the material whose structure a row carries.
    """
    matbench = load_matbench_comp()
    joined = load_mp_kvrh_all()
    assert joined.meta is not None
    by_mbid = {
        mbid: (mid, s) for mid, mbid, s in zip(joined.ids, joined.meta["mbid"], joined.row_structures, strict=True)
        if mbid and s is not None
    }  # fmt: skip
    found = [by_mbid.get(mbid, ("", None)) for mbid in matbench.ids]
    return Dataset(
        name=MATBENCH_RECOVERED,
        ids=matbench.ids,
        compositions=matbench.compositions,
        k_vrh=matbench.k_vrh,
        g_vrh=matbench.g_vrh,
        spacegroup=matbench.spacegroup,
        report=matbench.report,
        partial_structures=[s for _, s in found],
        meta=pd.DataFrame({"structure_from": [mid for mid, _ in found]}),
    )


def matbench_linked_rows(ds: Dataset, mbids: Iterable[str]) -> np.ndarray:
    """Rows of an mp-kvrh-all dataset (or a subset) that carry, or may carry, the K of these matbench rows.

    When ``mbids`` are a matbench test fold, all these rows must leave training: the row each mbid joined
    (whichever source its K comes from) and, for an ambiguous mbid, every candidate material, since one of
    them may be the same crystal under another source's label.
    """
    if ds.meta is None or "mbid" not in ds.meta:
        raise BulkmodError(f"{ds.name}: no mbid column; matbench_linked_rows needs the {NAME} dataset")
    test = set(mbids)
    linked = ds.meta["mbid"].isin(test).to_numpy()
    candidates = {
        c for mbid, amb in zip(ds.meta["mbid"], ds.meta["ambiguous_with"], strict=True) if mbid in test and amb
        for c in amb.split(";")
    }  # fmt: skip
    return np.flatnonzero(linked | np.isin(np.asarray(ds.ids, dtype=str), sorted(candidates)))


def cache_key() -> dict[str, str]:
    """What the joined table depends on: each source file's sha256, the join code, and validation settings."""
    root = shared_data_dir()
    key = {}
    for name, rel in SOURCE_FILES.items():
        path = root / rel
        if not path.is_file():
            raise BulkmodError(f"{path}: missing; {NAME} joins {', '.join(SOURCE_FILES.values())} under {root}")
        key[name] = sha256_file(path)
    code = hashlib.sha256()
    for module in CODE_MODULES:
        code.update(Path(importlib.import_module(module).__file__).read_bytes())
    key["code"] = code.hexdigest()
    key["pymatgen"] = version("pymatgen")
    key["max_atoms"] = str(max_atoms_cap())
    return key


def write_cache(path: Path, key: dict[str, str], ds: Dataset) -> None:
    """Write ``ds`` as plain arrays (no object arrays, so it reads back with ``allow_pickle=False``)."""
    structures = [s for s in ds.row_structures if s is not None]
    rep = ds.report
    assert ds.meta is not None and ds.g_vrh is not None and ds.spacegroup is not None
    arrays = {
        "key": np.array(json.dumps(key, sort_keys=True)),
        "ids": np.array(ds.ids, dtype=str),
        "k_vrh": ds.k_vrh,
        "g_vrh": ds.g_vrh,
        "spacegroup": ds.spacegroup,
        "comp_counts": np.array([len(c) for c in ds.compositions], dtype=int),
        "comp_species": np.array([str(el) for c in ds.compositions for el in c], dtype=str),
        "comp_amounts": np.array([amt for c in ds.compositions for amt in c.values()], dtype=float),
        "struct_rows": np.flatnonzero(ds.structure_mask),
        "lattices": np.array([s.lattice.matrix for s in structures], dtype=float).reshape(-1, 3, 3),
        "site_counts": np.array([len(s) for s in structures], dtype=int),
        "site_species": np.array([str(site.specie) for s in structures for site in s], dtype=str),
        "frac_coords": np.array([xyz for s in structures for xyz in s.frac_coords], dtype=float).reshape(-1, 3),
        "meta_columns": np.array(list(ds.meta.columns), dtype=str),
        **{f"meta_{c}": ds.meta[c].to_numpy(dtype=str if c in META_STR else None) for c in ds.meta.columns},
        "n_read": np.array(rep.n_read),
        "n_joined": np.array(len(ds)),
        **{f"problem_{f}": np.array([getattr(p, f) for p in rep.problems], dtype=t) for f, t in PROBLEM_FIELDS.items()},
    }
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def read_cache(path: Path, key: dict[str, str]) -> Dataset | None:
    """The cached dataset, or None when there is none, it is unreadable, or it was built from other inputs."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["key"])) != key:
                return None
            a = {name: z[name] for name in z.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a damaged cache is rebuilt, like a stale one
    compositions = [
        Composition(dict(zip(species.tolist(), amounts.tolist(), strict=True)))
        for species, amounts in zip(
            _ragged(a["comp_species"], a["comp_counts"]), _ragged(a["comp_amounts"], a["comp_counts"]), strict=True
        )
    ]
    structures: list[Structure | None] = [None] * len(a["ids"])
    sites = zip(_ragged(a["site_species"], a["site_counts"]), _ragged(a["frac_coords"], a["site_counts"]), strict=True)
    for row, lattice, (species, frac) in zip(a["struct_rows"], a["lattices"], sites, strict=True):
        structures[row] = Structure(Lattice(lattice), species.tolist(), frac)
    meta = pd.DataFrame({c: a[f"meta_{c}"] for c in a["meta_columns"].tolist()})
    columns = {f: a[f"problem_{f}"].tolist() for f in PROBLEM_FIELDS}
    problems = [Problem(**dict(zip(columns, values, strict=True))) for values in zip(*columns.values(), strict=True)]
    return Dataset(
        name=NAME,
        ids=a["ids"].tolist(),
        compositions=compositions,
        k_vrh=a["k_vrh"],
        g_vrh=a["g_vrh"],
        spacegroup=a["spacegroup"],
        report=ValidationReport(n_read=int(a["n_read"]), problems=problems, n_joined=int(a["n_joined"])),
        partial_structures=structures,
        meta=meta,
    )


def _ragged(values: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Split a concatenation back into its pieces of ``counts`` items each."""
    return np.split(values, np.cumsum(counts)[:-1]) if len(counts) else []
