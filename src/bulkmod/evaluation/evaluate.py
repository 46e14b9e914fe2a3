"""Evaluate a trained model on a whole dataset (no training), in the results schema."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bulkmod.data import load_dataset
from bulkmod.evaluation.benchmark import prediction_frame
from bulkmod.evaluation.leaderboard import compare_with_leaderboard
from bulkmod.evaluation.results import build_results, write_results
from bulkmod.models.base import Estimator, read_manifest
from bulkmod.models.pretrained import resolve_model_dir


def evaluate(model: str, dataset: str, *, out: Path | str | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    directory = resolve_model_dir(model)
    manifest = read_manifest(directory)
    est = Estimator.load(directory)
    ds = load_dataset(dataset)
    preds = prediction_frame(ds.ids, 0, ds.y_log10, est.predict(ds))
    extra: dict[str, Any] = {"model_dir": str(directory), "n_rejected_input": len(ds.report.rejected)}
    if manifest.get("train", {}).get("dataset") == ds.name:
        extra["warning"] = "evaluated on the model's own training data: these are training errors"
    if dataset.startswith("matbench-log-kvrh"):
        extra["leaderboard"] = compare_with_leaderboard(preds)
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
