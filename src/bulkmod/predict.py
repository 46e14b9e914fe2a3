"""Batch prediction from structure files: one output row per input, good or bad."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from bulkmod.data.files import is_structure_file, read_structure
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


def predict_files(paths: list[Path], model: Estimator) -> pd.DataFrame:
    """Predict K for each file; unreadable or invalid files get an ``error`` and an empty K."""
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
    for i, why in errors.items():
        out.loc[i, ["k_vrh_gpa", "k_vrh_low_gpa", "k_vrh_high_gpa"]] = np.nan
        out.loc[i, "error"] = why
    return out[OUTPUT_COLUMNS]
