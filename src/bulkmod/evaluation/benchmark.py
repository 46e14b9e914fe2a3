"""Cross-validated benchmark of a registry model on a named dataset and split."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bulkmod.data import load_dataset
from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.evaluation.results import build_results, write_results
from bulkmod.evaluation.tasks import Task
from bulkmod.features import FeatureConfig, featurize
from bulkmod.features.spacegroup import crystal_system_names
from bulkmod.models import MODELS, Prediction, build_model
from bulkmod.models.composite import CompositeEstimator
from bulkmod.parallel import current
from bulkmod.progress import progress_bar

LIMIT_SEED = 0


def limit_rows(ds: Dataset, limit: int | None) -> Dataset:
    """A fixed, seeded random subset of exactly ``limit`` rows (dataset order kept)."""
    if limit is None or limit >= len(ds):
        return ds
    if limit < 2:
        raise BulkmodError(f"--limit {limit}: need at least 2 rows")
    idx = np.sort(np.random.default_rng(LIMIT_SEED).choice(len(ds), size=limit, replace=False))
    return ds.subset(idx)


def _spacegroups(ds: Dataset) -> np.ndarray:
    """Each row's space-group number as the descriptors see it, so a breakdown by crystal system matches them.

    The dataset's own, else detected from the row's structure (from the feature cache where a model already did);
    NaN where neither is known.
    """
    return featurize(ds, FeatureConfig(("spacegroup",)))[0][:, 0]


def prediction_frame(ds: Dataset, fold: int, pred: Prediction) -> pd.DataFrame:
    """Per-sample predictions plus what results are broken down by (``SAMPLE_COLUMNS``).

    Saved next to the predictions, those columns mean no report reloads or re-featurises a dataset.
    """
    nan = np.full(len(ds), np.nan)
    return pd.DataFrame(
        {
            "id": ds.ids,
            "fold": fold,
            "y_true_log10": ds.y_log10,
            "y_pred_log10": pred.mean_log10,
            "std_log10": nan if pred.std_log10 is None else pred.std_log10,
            "lo90_log10": nan if pred.lo90_log10 is None else pred.lo90_log10,
            "hi90_log10": nan if pred.hi90_log10 is None else pred.hi90_log10,
            "formula": ds.reduced_formulas,
            "n_elements": [len(c.elements) for c in ds.compositions],
            "crystal_system": crystal_system_names(_spacegroups(ds)),
            "has_structure": ds.structure_mask,
            "source": ds.meta["k_source"].fillna("") if ds.meta is not None and "k_source" in ds.meta else ds.name,
        }
    )


def run_fold(task: tuple[str, dict, Dataset, Dataset, int]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit on one fold's training part and predict its test part: the unit a backend runs as a task."""
    model, model_config, train, test, k = task
    t = time.perf_counter()
    est = build_model(model, **model_config)
    est.fit(train, train.y_log10)
    t_fit = time.perf_counter() - t
    frame = prediction_frame(test, k, est.predict(test))
    meta = {"n_train": len(train), "fit_s": round(t_fit, 2), "predict_s": round(time.perf_counter() - t - t_fit, 2)}
    if "selection" in est.train_info:  # what the nested selection chose on this fold's training part
        meta["selection"] = est.train_info["selection"]
    if est.train_info.get("note"):  # what this fitted model carries beyond its registry entry (a pretrained start)
        meta["note"] = est.train_info["note"]
    members = est.member_predictions(test) if isinstance(est, CompositeEstimator) else None
    if members is not None:  # a blend or an ensemble should be no worse than its best member
        meta["member_mae_log10"] = np.nanmean(np.abs(members - test.y_log10), axis=1).round(5).tolist()
    return frame, meta


def run_benchmark(
    dataset: str,
    model: str,
    *,
    split: str = "kfold",
    folds: int = 5,
    limit: int | None = None,
    model_config: dict[str, Any] | None = None,
    out: Path | str | None = None,
) -> dict[str, Any]:
    """Cross-validate ``model``; folds run as tasks on the enclosing backend (:func:`bulkmod.parallel.current`)."""
    if model not in MODELS:
        build_model(model)  # raises the helpful unknown-model error
    task = Task.of(dataset, split)
    t0 = time.perf_counter()
    parts = task.folds(limit_rows(load_dataset(dataset), limit), folds)
    runs = [(model, model_config or {}, fold.train, fold.test, k) for k, fold in enumerate(parts)]
    backend = current()
    done = backend.imap(run_fold, runs)
    results = list(progress_bar(done, f"{model} on {dataset}", total=len(runs), unit="fold"))
    frames, fold_meta = [r[0] for r in results], [r[1] for r in results]
    preds = pd.concat(frames, ignore_index=True)
    extra: dict[str, Any] = {"limit": limit, "folds": len(parts), "model_config": model_config or {}}
    notes = dict.fromkeys([MODELS[model].note, *(m.pop("note", None) for m in fold_meta)])
    if any(notes):
        extra["note"] = " ".join(n for n in notes if n)
    extra |= parts.notes
    extra |= task.leaderboard_results(preds)
    res = build_results(
        preds,
        dataset=parts.test_name,
        train_dataset=parts.train_name,
        split=split,
        model=model,
        family=MODELS[model].family,
        fold_meta=fold_meta,
        wall_s=time.perf_counter() - t0,
        extra=extra,
    )
    if out is not None:
        write_results(res, preds, out)
    return res


def run_named(runs: dict[str, dict], results: Path, description: str | None = None) -> list[dict[str, Any]]:
    """The command line of a benchmark script made of named runs (``--only NAME ...``, ``--force``).

    Each run writes ``results/<name>.json``; a run whose JSON exists is skipped, so a killed session loses at
    most the run in progress. Returns the results of every run that has a JSON, labelled with its name.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="run only these names")
    parser.add_argument("--force", action="store_true", help="re-run even if the JSON exists")
    args = parser.parse_args()
    results.mkdir(parents=True, exist_ok=True)
    paths = {name: results / f"{name}.json" for name in runs}
    for name, spec in runs.items():
        if (args.only and name not in args.only) or (paths[name].exists() and not args.force):
            continue
        print(f"== {name}", flush=True)
        run_benchmark(out=paths[name], **spec)
    return [json.loads(path.read_text()) | {"label": name} for name, path in paths.items() if path.exists()]
