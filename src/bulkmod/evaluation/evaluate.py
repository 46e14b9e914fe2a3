"""Evaluate a trained model on a whole dataset (no training), in the results schema."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bulkmod.data import load_dataset
from bulkmod.data.records import Dataset
from bulkmod.evaluation.benchmark import prediction_frame
from bulkmod.evaluation.results import build_results, write_results
from bulkmod.evaluation.tasks import Task
from bulkmod.features import FeatureConfig
from bulkmod.models.base import Estimator, read_manifest
from bulkmod.models.pretrained import COMPOSITION_MODEL, resolve_model_dir

STRUCTURE_FAMILIES = ("graph", "hybrid", "zero-shot")
ROUTING_MODELS = ("structure-routed",)  # send a row without a structure to a member that takes it


def model_for_inputs(model: str, ds: Dataset) -> tuple[str, Path]:
    """Structures when the rows have them and the model uses them; otherwise the composition path.

    Formulas without a space group go to the composition model too when the model reads space groups: an
    unknown space group is a value it never saw in training (the default's composition member then
    under-predicted the oxides of expt-jarvis), while the composition model needs none.
    """
    directory = resolve_model_dir(model)
    if ds.has_structures:
        return "structure", directory
    if needs_structure(directory):
        return "composition (fallback model: no structures given)", resolve_model_dir(COMPOSITION_MODEL)
    no_spacegroup = ds.spacegroup is None or not np.any(ds.spacegroup > 0)
    if no_spacegroup and uses_spacegroup(directory):
        return "composition (fallback model: no structures or space groups given)", resolve_model_dir(COMPOSITION_MODEL)
    return "composition", directory


def uses_spacegroup(directory: Path) -> bool:
    """The model, or any member, reads the space-group descriptors."""
    features = read_manifest(directory).get("config", {}).get("features") or {}
    return "spacegroup" in features.get("groups", []) or any(
        uses_spacegroup(sub) for sub in sorted(directory.glob("member_*/"))
    )


def needs_structure(directory: Path) -> bool:
    """Whether the saved model at ``directory`` cannot predict a row without a structure.

    True for graph, potential and structure-descriptor models (unless trained to take rows without a structure),
    and for a composite with any such member.
    """
    manifest = read_manifest(directory)
    if manifest["model"] in ROUTING_MODELS:
        return False
    features = manifest.get("config", {}).get("features")
    if manifest["family"] in STRUCTURE_FAMILIES or (features and FeatureConfig.from_dict(features).requires_structure):
        return True
    return any(needs_structure(sub) for sub in sorted(directory.glob("member_*/")))


def evaluate(model: str, dataset: str, *, out: Path | str | None = None) -> dict[str, Any]:
    """Score a saved model on a whole dataset; the results say so when it is the model's own training data."""
    t0 = time.perf_counter()
    ds = load_dataset(dataset)
    path, directory = model_for_inputs(model, ds)
    manifest = read_manifest(directory)
    est = Estimator.load(directory)
    preds = prediction_frame(ds, 0, est.predict(ds))
    extra: dict[str, Any] = {"model_dir": str(directory), "path": path, "n_rejected_input": len(ds.report.rejected)}
    if manifest.get("train", {}).get("note"):
        extra["note"] = manifest["train"]["note"]
    if manifest.get("train", {}).get("dataset") == ds.name:
        extra["warning"] = "evaluated on the model's own training data: these are training errors"
    extra |= Task.of(dataset).leaderboard_results(preds)
    res = build_results(
        preds,
        dataset=ds.name,
        train_dataset=manifest.get("train", {}).get("dataset", "unknown"),
        split="none",
        model=manifest["name"],
        family=manifest["family"],
        wall_s=time.perf_counter() - t0,
        extra=extra,
    )
    if out is not None:
        write_results(res, preds, out)
    return res
