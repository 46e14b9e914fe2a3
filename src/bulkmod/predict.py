"""Batch prediction from structure files: one output row per input, good or bad."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from bulkmod.data.files import is_structure_file, read_structure
from bulkmod.data.records import Dataset
from bulkmod.data.validate import RawRow, build_dataset
from bulkmod.errors import BulkmodError
from bulkmod.models.base import Estimator

OUTPUT_COLUMNS = ["source", "formula", "k_vrh_gpa", "k_vrh_low_gpa", "k_vrh_high_gpa", "in_domain", "error"]


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, directories (their structure files) and glob patterns, in the order given."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and is_structure_file(p))
        elif any(ch in item for ch in "*?[") and not path.exists():
            matches = sorted(Path(p) for p in glob.glob(item))
            out += matches if matches else [path]
        else:
            out.append(path)
    if not out:
        raise BulkmodError("no input files given")
    return out


def predict_files(paths: list[Path], model: Estimator, *, relax: str | None = None) -> pd.DataFrame:
    """Predict K for each file; unreadable or invalid files get an ``error`` and an empty K.

    ``relax`` names a potential that relaxes each structure first (column ``relaxed`` says how it went);
    model-specific outputs (e.g. the E–V fit's ``k_prime``) come as extra columns after ``error``.
    """
    rows = []
    for i, path in enumerate(paths):
        row = RawRow(id=str(i), source=str(path))
        try:
            row.structure = read_structure(path)
        except BulkmodError as exc:
            row.error = str(exc).removeprefix(f"{path}: ")
        rows.append(row)
    ds = build_dataset("input", rows, require_target=False)
    errors = {p.row: p.reason for p in ds.report.rejected}
    out = pd.DataFrame(
        {
            "source": [str(p) for p in paths],
            "formula": "",
            "k_vrh_gpa": np.nan,
            "k_vrh_low_gpa": np.nan,
            "k_vrh_high_gpa": np.nan,
            "in_domain": "",
            "error": "",
        }
    )
    extra_cols: dict[str, pd.Series] = {}
    if len(ds) and relax:
        ds, relax_notes, relax_errors = _relaxed(ds, relax)
        extra_cols["relaxed"] = pd.Series(relax_notes, index=[int(i) for i in ds.ids])
        errors |= relax_errors
    if len(ds):
        pred = model.predict(ds)
        pos = np.array([int(i) for i in ds.ids])
        out.loc[pos, "formula"] = [s.composition.reduced_formula for s in ds.structures]
        seen = set(model.train_info.get("elements", []))
        if seen:  # an element the model never saw in training: the prediction is an extrapolation
            out.loc[pos, "in_domain"] = [
                "yes" if {e.symbol for e in c.elements} <= seen else "no: unseen element" for c in ds.compositions
            ]
        out.loc[pos, "k_vrh_gpa"] = 10.0**pred.mean_log10
        if pred.lo90_log10 is not None:
            out.loc[pos, "k_vrh_low_gpa"] = 10.0**pred.lo90_log10
            out.loc[pos, "k_vrh_high_gpa"] = 10.0**pred.hi90_log10
        for j, why in pred.errors.items():
            errors[int(pos[j])] = why
        extra_cols |= {name: pd.Series(values, index=pos) for name, values in pred.extra.items()}
    for i, why in errors.items():
        out.loc[i, ["k_vrh_gpa", "k_vrh_low_gpa", "k_vrh_high_gpa"]] = np.nan
        out.loc[i, "error"] = why
    for name, col in extra_cols.items():
        out[name] = col
    return out[OUTPUT_COLUMNS + list(extra_cols)]


def _relaxed(ds: Dataset, potential: str) -> tuple[Dataset, list[str], dict[int, str]]:
    """The rows whose relaxation worked, with relaxed structures; failures become row errors."""
    from bulkmod.physics.relax import relax_structures

    outcomes = relax_structures(ds.structures, potential)
    keep = [j for j, o in enumerate(outcomes) if o.structure is not None]
    errors = {int(ds.ids[j]): o.note for j, o in enumerate(outcomes) if o.structure is None}
    sub = ds.subset(keep)
    sub.structures = [outcomes[j].structure for j in keep]
    return sub, [outcomes[j].note for j in keep], errors
