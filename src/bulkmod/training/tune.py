"""Hyper-parameter search for the tree models with Optuna, scored by nested cross-validation.

Each outer fold gets its own study whose objective is the mean inner-CV MAE (log10) on that fold's training
part only, so the outer test fold never chooses a hyper-parameter and the outer-fold MAE of the chosen
setting is an honest estimate of "tune, then train". A last study on every row picks the config to ship.
Trials are asked in fixed-size batches and their inner folds run as backend tasks, so the search is the same
on one process or a Ray cluster; studies live in an SQL database (SQLite by default) and resume after a kill.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from bulkmod.data import load_dataset
from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.evaluation.benchmark import limit_rows, run_fold
from bulkmod.evaluation.results import build_results, write_results
from bulkmod.evaluation.tasks import Task
from bulkmod.models import MODELS, build_model
from bulkmod.models.base import data_hash
from bulkmod.optional import require
from bulkmod.parallel import Backend, Shared, current
from bulkmod.training.config_file import merge_config, write_config

if TYPE_CHECKING:
    import optuna

STUDY_FILE = "study.sqlite3"
CONFIG_FILE = "best_config.json"
RESULTS_FILE = "results.json"


def _lgbm_space(t: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": t.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": t.suggest_int("num_leaves", 8, 128, log=True),
        "min_data_in_leaf": t.suggest_int("min_data_in_leaf", 3, 50, log=True),
        "feature_fraction": t.suggest_float("feature_fraction", 0.3, 1.0),
        "lambda_l2": t.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def _rf_space(t: optuna.Trial) -> dict[str, Any]:
    return {
        "num_leaves": t.suggest_int("num_leaves", 64, 4096, log=True),
        "min_data_in_leaf": t.suggest_int("min_data_in_leaf", 1, 20, log=True),
        "feature_fraction": t.suggest_float("feature_fraction", 0.1, 0.8),
        "bagging_fraction": t.suggest_float("bagging_fraction", 0.4, 0.9),
    }


def _xgb_space(t: optuna.Trial) -> dict[str, Any]:
    return {
        "eta": t.suggest_float("eta", 0.01, 0.2, log=True),
        "max_depth": t.suggest_int("max_depth", 3, 10),
        "min_child_weight": t.suggest_float("min_child_weight", 0.5, 10.0, log=True),
        "subsample": t.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": t.suggest_float("colsample_bytree", 0.2, 1.0),
        "lambda": t.suggest_float("lambda", 1e-3, 10.0, log=True),
    }


SPACES: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {"lgbm": _lgbm_space, "rf": _rf_space, "xgb": _xgb_space}


def _inner_score(task: tuple[str, dict, Shared, np.ndarray, np.ndarray]) -> float:
    """MAE (log10) of one trial's config on one inner fold: the unit a backend runs."""
    model, config, shared, tr, te = task
    ds: Dataset = shared.get()
    est = build_model(model, **config).fit(ds.subset(tr), ds.y_log10[tr])
    return float(np.mean(np.abs(est.predict(ds.subset(te)).mean_log10 - ds.y_log10[te])))


def search(
    name: str,
    ds: Dataset,
    model: str,
    base_config: dict[str, Any],
    *,
    storage: str,
    trials: int,
    timeout: float | None,
    inner_folds: int,
    seed: int,
    batch: int,
    backend: Backend,
) -> optuna.Study:
    """Run (or resume) the study ``name`` until it has ``trials`` complete trials or ``timeout`` seconds pass."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        load_if_exists=True,
    )
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        study.tell(stale.number, state=TrialState.FAIL)  # asked by a run that was killed before it could tell
    inner = list(KFold(inner_folds, shuffle=True, random_state=seed).split(np.arange(len(ds))))
    shared = backend.share(ds)
    t0 = time.monotonic()
    while timeout is None or time.monotonic() - t0 < timeout:
        left = trials - len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        if left <= 0:
            break
        asked = [study.ask() for _ in range(min(batch, left))]
        configs = [merge_config(base_config, {"params": SPACES[model](t), "inner_folds": 1}) for t in asked]
        tasks = [(model, cfg, shared, tr, te) for cfg in configs for tr, te in inner]
        scores = np.array(backend.map(_inner_score, tasks)).reshape(len(asked), len(inner)).mean(axis=1)
        for trial, score in zip(asked, scores, strict=True):
            study.tell(trial, float(score))
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise BulkmodError(f"study {name}: no trial finished (raise --timeout or --trials)")
    return study


def _without_password(url: str) -> str:
    """The storage URL as results and config files record it: a database password never lands in a file."""
    require("sqlalchemy")
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _n_complete(study: optuna.Study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def tune(
    dataset: str,
    model: str,
    out: Path | str,
    *,
    trials: int = 20,
    timeout: float | None = None,
    split: str = "kfold",
    outer_folds: int = 5,
    inner_folds: int = 3,
    limit: int | None = None,
    storage: str | None = None,
    seed: int = 0,
    batch: int = 4,
    model_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Nested search; writes ``results.json`` (outer-fold scores) and ``best_config.json`` into ``out``."""
    if model not in SPACES:
        if model not in MODELS:
            build_model(model)  # the helpful unknown-model error
        raise BulkmodError(f"tune searches the tree models ({', '.join(SPACES)}), not {model!r}")
    if trials < 1 or inner_folds < 2 or batch < 1:
        raise BulkmodError("tune: need --trials >= 1, --inner-folds >= 2 and --parallel-trials >= 1")
    require("optuna")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / STUDY_FILE).resolve()}"
    shown = _without_password(storage)
    base = model_config or {}
    backend = current()
    t0 = time.perf_counter()
    parts = Task.of(dataset, split).folds(limit_rows(load_dataset(dataset), limit), outer_folds)
    opts = {"storage": storage, "trials": trials, "timeout": timeout, "inner_folds": inner_folds, "seed": seed,
            "batch": batch, "backend": backend}  # fmt: skip

    def study_for(part: Dataset, label: str) -> optuna.Study:
        print(f"tune: study {label} ({len(part)} rows)", file=sys.stderr)
        return search(f"{model}-{label}-{data_hash(part)}", part, model, base, **opts)

    studies = [study_for(fold.train, f"outer{k}of{len(parts)}") for k, fold in enumerate(parts)]
    runs = [
        (model, merge_config(base, {"params": s.best_params}), fold.train, fold.test, k)
        for k, (s, fold) in enumerate(zip(studies, parts, strict=True))
    ]
    outer = backend.map(run_fold, runs)
    preds = pd.concat([frame for frame, _ in outer], ignore_index=True)
    fold_meta = [
        meta | {"params": s.best_params, "inner_cv_mae_log10": round(s.best_value, 5), "n_trials": _n_complete(s)}
        for (_, meta), s in zip(outer, studies, strict=True)
    ]
    final = study_for(parts.data, "all")
    best = merge_config(base, {"params": final.best_params})
    config_path = write_config(
        out / CONFIG_FILE, model, best, dataset=parts.data.name, n=len(parts.data), inner_folds=inner_folds,
        inner_cv_mae_log10=round(final.best_value, 5), n_trials=_n_complete(final), storage=shown,
    )  # fmt: skip
    tuning = {"trials": trials, "timeout_s": timeout, "inner_folds": inner_folds, "seed": seed,
              "parallel_trials": batch, "storage": shown, "best_config": config_path.name,
              "best_params": final.best_params, "best_inner_cv_mae_log10": round(final.best_value, 5)}  # fmt: skip
    res = build_results(
        preds,
        dataset=parts.test_name,
        train_dataset=parts.train_name,
        split=f"nested-{split}",
        model=model,
        family=MODELS[model].family,
        fold_meta=fold_meta,
        wall_s=time.perf_counter() - t0,
        extra={"limit": limit, "folds": len(parts), "model_config": base, "tuning": tuning},
    )
    write_results(res, preds, out / RESULTS_FILE)
    return res
