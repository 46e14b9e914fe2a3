"""Loaders for the named datasets and for users' own files.

Each loader reads raw rows and hands them to ``build_dataset`` so that validation is uniform.
"""

from __future__ import annotations

import bz2
import gzip
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from bulkmod.data.download import fetch
from bulkmod.data.files import read_structure, safe_structure, structure_from_text
from bulkmod.data.records import Dataset, Problem
from bulkmod.data.validate import RawRow, build_dataset
from bulkmod.errors import BulkmodError
from bulkmod.io import sha256_file, shared_data_dir

MATBENCH_KVRH_URL = "https://ml.materialsproject.org/projects/matbench_log_kvrh.json.gz"
MATBENCH_KVRH_SHA256 = "44b113ddb7e23aa18731a62c74afa7e5aa654199e0db5f951c8248a00955c9cd"
MATBENCH_KVRH_ENV = "BULKMOD_MATBENCH_KVRH"  # a local copy of the structure file

TARGET_COLUMNS = ("k_vrh", "K_VRH", "k_vrh_gpa", "K_exp_GPa", "bulk_modulus", "target", "K")
STRUCTURE_COLUMNS = ("structure_file", "file", "path", "cif", "structure", "poscar")
FORMULA_COLUMNS = ("formula", "composition", "pretty_formula")
ID_COLUMNS = ("id", "material_id", "mp_id", "jid", "mbid")

# the labelled source files, relative to shared_data_dir() (the mp-kvrh-all join hashes them for its cache key)
MP_BINARY_2025_FILE = "mp_elasticity_2025/mp-binary-pbe-elasticity-2025.1.json.gz"
ELASTIC_2015_FILE = "elastic_tensor_2015/elastic_tensor.csv"
MP_EXTRA_TENSORS_FILE = "mp_elastic_tensors_extra/mp_val_clean.json"
MATBENCH_KVRH_COMP_FILE = "matbench/matbench_log_kvrh_composition_targets.json.bz2"


def _parse_composition(text: str) -> tuple[Composition | None, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Composition(str(text)), None
    except Exception as exc:
        return None, f"unparseable formula {text!r} ({exc})"


def load_mp_binary_2025() -> Dataset:
    """The ``mp-binary-2025`` dataset: Materials Project binary compounds with structures and PBE K_VRH and G_VRH."""
    path = shared_data_dir() / MP_BINARY_2025_FILE
    with gzip.open(path) as fh:
        raw = json.load(fh)
    rows = [
        RawRow(
            id=r["mp_id"],
            source=path.name,
            structure=safe_structure(r["structure"]),
            k_vrh=float(r["bulk_modulus_vrh"]),
            g_vrh=float(r["shear_modulus_vrh"]),
        )
        for r in raw
    ]
    return build_dataset("mp-binary-2025", rows)


def load_elastic_2015() -> Dataset:
    """The ``elastic-2015`` dataset: de Jong et al.'s 2015 elastic-tensor set, structures given as POSCAR text."""
    path = shared_data_dir() / ELASTIC_2015_FILE
    df = pd.read_csv(path, comment="#", keep_default_na=False)
    rows = []
    for r in df.itertuples():
        rows.append(
            RawRow(
                id=r.material_id,
                source=path.name,
                structure=structure_from_text(r.poscar, "poscar", f"{path.name}: {r.material_id}"),
                k_vrh=float(r.K_VRH),
                g_vrh=float(r.G_VRH),
                spacegroup=int(r.space_group),
            )
        )
    return build_dataset("elastic-2015", rows)


def tensor_k_vrh(voigt: object) -> tuple[float, str | None, str | None]:
    """(K_VRH in GPa, error, warning) from a 6x6 Voigt elastic tensor in GPa, via pymatgen.

    A tensor that cannot be inverted (K_Reuss needs the compliance) or gives K_VRH <= 0 is broken: an error.
    One that is not positive definite describes a mechanically unstable (or coarsely rounded) cell: its
    K_VRH is still the published value, so it is kept with a warning.
    """
    from pymatgen.analysis.elasticity import ElasticTensor

    try:
        c = np.array(voigt, dtype=float)
    except (TypeError, ValueError):
        return math.nan, "broken elastic tensor: not a numeric 6x6 matrix", None
    if c.shape != (6, 6) or not np.all(np.isfinite(c)):
        return math.nan, f"broken elastic tensor: shape {c.shape} or non-finite entries, need a finite 6x6", None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k = float(ElasticTensor.from_voigt(c).k_vrh)
    except np.linalg.LinAlgError:
        return math.nan, "broken elastic tensor: singular, so the compliance and K_Reuss are undefined", None
    if not np.isfinite(k) or k <= 0:
        return k, f"broken elastic tensor: K_VRH {k:.4g} GPa from the tensor is not positive", None
    lowest = float(np.linalg.eigvalsh((c + c.T) / 2).min())
    warning = None if lowest > 0 else f"elastic tensor not positive definite (lowest eigenvalue {lowest:.3g} GPa)"
    return k, None, warning


def load_mp_extra_tensors() -> Dataset:
    """``mp_elastic_tensors_extra``: MP crystals with CIF structures and 6x6 tensors but no K_VRH column.

    K_VRH comes from the tensor (``tensor_k_vrh``; G_VRH is left NaN, nothing uses it); broken tensors are
    rejected and unstable ones flagged, so none disappears from the report.
    """
    path = shared_data_dir() / MP_EXTRA_TENSORS_FILE
    with open(path) as fh:
        df = pd.DataFrame(json.load(fh))
    missing = {"material_id", "cif", "elasticity.elastic_tensor"} - set(df.columns)
    if missing:
        raise BulkmodError(f"{path}: missing column(s) {', '.join(sorted(missing))} of the mp_val_clean layout")
    rows, warned = [], []
    for i, r in enumerate(df.to_dict("records")):
        k, err, warning = tensor_k_vrh(r["elasticity.elastic_tensor"])
        structure = None
        try:
            structure = structure_from_text(r["cif"], "cif", f"{path.name}: {r['material_id']}")
        except BulkmodError as exc:
            err = err or str(exc)
        rows.append(RawRow(id=r["material_id"], source=path.name, structure=structure, k_vrh=k, error=err))
        if warning:
            warned.append(Problem(i, r["material_id"], path.name, warning, rejected=False))
    ds = build_dataset("mp-elastic-extra", rows)
    rejected = {p.row for p in ds.report.rejected}
    ds.report.problems += [p for p in warned if p.row not in rejected]
    return ds


def load_matbench_comp() -> Dataset:
    """The ``matbench-log-kvrh-comp`` dataset: matbench's compositions and space groups, without structures.

    The file stores log10(K_VRH); rows carry K_VRH in GPa like every other dataset.
    """
    path = shared_data_dir() / MATBENCH_KVRH_COMP_FILE
    with bz2.open(path) as fh:
        df = pd.DataFrame(json.load(fh))
    df.index = df.index.astype(int)
    df = df.sort_index()
    rows = []
    for r in df.itertuples():
        comp, err = _parse_composition(r.composition)
        rows.append(
            RawRow(
                id=r.mbid,
                source=path.name,
                composition=comp,
                k_vrh=10 ** float(r._2),
                spacegroup=int(r.spg_num),
                error=err,
            )
        )
    return build_dataset("matbench-log-kvrh-comp", rows)


def matbench_structure_file(path: str | Path | None = None, *, allow_download: bool = False) -> Path:
    """Local copy (argument or ``$BULKMOD_MATBENCH_KVRH``, hash-checked) or the cached download."""
    local = path or os.environ.get(MATBENCH_KVRH_ENV)
    if local:
        local = Path(local)
        if not local.exists():
            raise BulkmodError(f"{local}: no such file (matbench_log_kvrh structure file)")
        got = sha256_file(local)
        if got != MATBENCH_KVRH_SHA256:
            raise BulkmodError(f"{local}: sha256 {got[:12]}... is not the published matbench_log_kvrh file")
        return local
    return fetch(MATBENCH_KVRH_URL, MATBENCH_KVRH_SHA256, "matbench_log_kvrh.json.gz", allow_download=allow_download)


def read_matbench_split_json(path: Path, name: str = "matbench-log-kvrh") -> Dataset:
    """Read a matbench file in pandas ``split`` orient: columns ``structure`` and ``log10(K_VRH)``."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        doc = json.load(fh)
    try:
        cols = doc["columns"]
        s_col, y_col = cols.index("structure"), cols.index("log10(K_VRH)")
        data, index = doc["data"], doc.get("index", range(len(doc["data"])))
    except (KeyError, ValueError, TypeError) as exc:
        raise BulkmodError(f"{path}: not a matbench split-orient file ({exc})") from None
    rows = []
    for idx, rec in zip(index, data, strict=True):
        mbid = idx if isinstance(idx, str) else f"mb-log-kvrh-{int(idx) + 1:05d}"
        try:
            structure, err = safe_structure(rec[s_col]), None
        except BulkmodError as exc:
            structure, err = None, f"unparseable structure ({exc})"
        rows.append(RawRow(id=mbid, source=path.name, structure=structure, k_vrh=10 ** float(rec[y_col]), error=err))
    return build_dataset(name, rows)


def load_matbench_structures(path: str | Path | None = None, *, allow_download: bool = False) -> Dataset:
    """The ``matbench-log-kvrh`` dataset with its structures, from a local hash-checked copy or the download."""
    return read_matbench_split_json(matbench_structure_file(path, allow_download=allow_download))


def load_expt_jarvis() -> Dataset:
    """The ``expt-jarvis`` dataset: experimental bulk moduli from the shared CSV, read like a user's CSV."""
    return load_csv(shared_data_dir() / "experimental" / "jarvis_expt_bulk_modulus.csv", name="expt-jarvis")


def _pick(columns: list[str], candidates: tuple[str, ...], path: Path, what: str, required: bool) -> str | None:
    lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    if required:
        raise BulkmodError(f"{path}: no {what} column (expected one of {', '.join(candidates)})")
    return None


def load_csv(
    path: str | Path, *, name: str | None = None, target_col: str | None = None, require_target: bool = True
) -> Dataset:
    """A CSV whose rows give a structure file (relative to the CSV) or a formula, plus a target.

    ``keep_default_na=False`` keeps the formula "NaN" (sodium nitride) a formula, not a missing value.
    """
    path = Path(path)
    if not path.exists():
        raise BulkmodError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, keep_default_na=False, dtype=str, comment="#")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BulkmodError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    if df.empty:
        raise BulkmodError(f"{path}: CSV has no rows")
    cols = list(df.columns)
    s_col = _pick(cols, STRUCTURE_COLUMNS, path, "structure-file", required=False)
    f_col = _pick(cols, FORMULA_COLUMNS, path, "formula", required=False)
    if s_col is None and f_col is None:
        raise BulkmodError(
            f"{path}: needs a structure-file column ({', '.join(STRUCTURE_COLUMNS)}) or a formula column"
        )
    t_col = target_col or _pick(cols, TARGET_COLUMNS, path, "target", required=require_target)
    if t_col is not None and t_col not in cols:
        raise BulkmodError(f"{path}: no column {t_col!r} (columns: {', '.join(cols)})")
    id_col = _pick(cols, ID_COLUMNS, path, "id", required=False)
    rows = []
    for i, r in enumerate(df.to_dict("records")):
        rid = r[id_col] if id_col else f"row{i}"
        row = RawRow(id=rid, source=f"{path.name}", k_vrh=_to_float(r[t_col]) if t_col else math.nan)
        if s_col and r[s_col]:
            try:
                row.structure = read_structure(path.parent / r[s_col])
            except BulkmodError as exc:
                row.error = str(exc)
        elif f_col:
            row.composition, row.error = _parse_composition(r[f_col])
        else:
            row.error = "neither a structure file nor a formula given"
        rows.append(row)
    return build_dataset(name or path.stem, rows, require_target=require_target)


def _to_float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def load_cgcnn_dir(path: str | Path, *, name: str | None = None) -> Dataset:
    """A CGCNN-style folder: ``id_prop.csv`` (id,target without header) and ``<id>.cif`` files."""
    path = Path(path)
    prop = path / "id_prop.csv"
    if not prop.exists():
        raise BulkmodError(f"{path}: no id_prop.csv (a CGCNN folder holds id_prop.csv and <id>.cif files)")
    df = pd.read_csv(prop, header=None, dtype=str, keep_default_na=False)
    if df.shape[1] < 2:
        raise BulkmodError(f"{prop}: needs two columns: id,target")
    rows = []
    listed = set()
    for rid, target in zip(df[0], df[1], strict=True):
        listed.add(rid)
        row = RawRow(id=rid, source=prop.name, k_vrh=_to_float(target))
        try:
            row.structure = read_structure(path / f"{rid}.cif")
        except BulkmodError as exc:
            row.error = str(exc)
        rows.append(row)
    for extra in sorted(p.stem for p in path.glob("*.cif") if p.stem not in listed):
        rows.append(RawRow(id=extra, source=prop.name, error=f"{extra}.cif has no row in id_prop.csv"))
    return build_dataset(name or path.name, rows)
