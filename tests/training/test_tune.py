"""`bulkmod tune`: nested (outer test rows never score a trial), resumable, same on Ray; `train --config` reads it."""

from __future__ import annotations

import json
import sys

import optuna
import pandas as pd
import pytest

from bulkmod.cli import main
from bulkmod.data import load_dataset
from bulkmod.data.splits import make_split
from bulkmod.evaluation.benchmark import limit_rows
from bulkmod.evaluation.results import SCHEMA
from bulkmod.models import Estimator
from bulkmod.models.base import data_hash
from bulkmod.provenance import command_line
from bulkmod.training.tune import _without_password

LIMIT, FOLDS = 90, 2


@pytest.fixture(scope="module")
def dataset(mp_small, tmp_path_factory):
    """Real formulas and moduli as a composition CSV: loads and featurises in a blink."""
    csv = tmp_path_factory.mktemp("data") / "small.csv"
    pd.DataFrame({"id": mp_small.ids, "formula": mp_small.reduced_formulas, "k_vrh": mp_small.k_vrh}).to_csv(csv)
    return csv


def _args(dataset) -> list[str]:
    return ["tune", "--dataset", str(dataset), "--model", "lgbm", "--limit", str(LIMIT), "--folds", str(FOLDS),
            "--inner-cv", "2", "--parallel-trials", "2", "--seed", "1",
            "--param", "num_iterations=60"]  # fmt: skip  # a round cap keeps each fit well under a second


@pytest.fixture(scope="module")
def tuned(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "local"
    assert main([*_args(dataset), "--trials", "2", "--out", str(out)]) == 0
    return out


def _studies(out) -> dict[str, list]:
    storage = f"sqlite:///{out / 'study.sqlite3'}"
    return {
        s.study_name: optuna.load_study(study_name=s.study_name, storage=storage).trials
        for s in optuna.get_all_study_summaries(storage)
    }


def test_inner_search_sees_only_the_outer_training_rows(tuned, dataset):
    folds = make_split("kfold", limit_rows(load_dataset(str(dataset)), LIMIT), FOLDS)
    names = set(_studies(tuned))
    for k, fold in enumerate(folds):  # each outer study is keyed by the hash of exactly its training rows
        assert f"lgbm-outer{k}of{FOLDS}-{data_hash(fold.train)}" in names
    assert f"lgbm-all-{data_hash(folds.data)}" in names and len(names) == FOLDS + 1
    res = json.loads((tuned / "results.json").read_text())
    assert res["schema"] == SCHEMA and res["split"] == "nested-kfold" and res["n"] == LIMIT
    for fold in res["per_fold"]:
        assert fold["n_trials"] == 2 and set(fold["params"]) >= {"learning_rate", "num_leaves"}
        assert fold["inner_cv_mae_log10"] > 0 and fold["mae_log10"] > 0  # chosen inside, scored outside
    run = json.loads(tuned.with_name("local.run.json").read_text())
    assert run["backend"] == "local" and run["n_tasks"] == (FOLDS + 1) * 2 * 2 + FOLDS


def test_ray_gives_the_same_search(tuned, dataset, ray_session, tmp_path):
    on_ray = tmp_path / "ray"
    assert main([*_args(dataset), "--trials", "2", "--out", str(on_ray), "--backend", "ray"]) == 0
    local = {n: [(t.params, t.value) for t in ts[:2]] for n, ts in _studies(tuned).items()}
    assert {n: [(t.params, t.value) for t in ts] for n, ts in _studies(on_ray).items()} == local
    assert json.loads((on_ray.with_name("ray.run.json")).read_text())["backend"] == "ray"


def test_rerun_resumes_the_studies(tuned, dataset):
    before = _studies(tuned)
    assert main([*_args(dataset), "--trials", "3", "--out", str(tuned)]) == 0  # one more trial per study
    for name, trials in _studies(tuned).items():
        assert len(trials) == 3 and [t.params for t in trials[:2]] == [t.params for t in before[name]]


def test_train_accepts_the_best_config_and_rejects_bad_ones(tuned, tmp_path, capsys):
    config = json.loads((tuned / "best_config.json").read_text())
    assert config["model"] == "lgbm" and config["config"]["params"]
    csv = tmp_path / "small.csv"
    known = [("NaCl", 25), ("MgO", 160), ("Si", 98), ("Cu", 140), ("Al", 76), ("GaAs", 75), ("KCl", 17),
             ("CaO", 110), ("W", 310), ("Au", 170)]  # fmt: skip
    csv.write_text("formula,k_vrh\n" + "\n".join(f"{f},{k}" for f, k in known))
    out = tmp_path / "m"
    assert main(["train", "--config", str(tuned / "best_config.json"), "--dataset", str(csv), "--out", str(out),
                 "--inner-folds", "2"]) == 0  # fmt: skip
    saved = Estimator.load(out)
    assert saved.params | config["config"]["params"] == saved.params and saved.options.inner_folds == 2  # CLI wins
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: bulkmod-config/1\nmodel: lgbm\nconfig:\n  epochs: 3\n")
    assert main(["train", "--config", str(bad), "--dataset", str(csv), "--out", str(tmp_path / "x")]) == 2
    assert "bad.yaml: model 'lgbm' does not take that option" in capsys.readouterr().err
    assert main(["train", "--dataset", str(csv), "--out", str(tmp_path / "x")]) == 2
    assert "--model KEY or --config FILE" in capsys.readouterr().err


def test_a_storage_password_never_lands_in_a_file(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bulkmod", "tune", "--storage", "postgresql://me:s3cret@db:5432/optuna"])
    assert command_line() == "bulkmod tune --storage 'postgresql://me:***@db:5432/optuna'"
    assert _without_password("mysql+pymysql://me:s3cret@db/optuna") == "mysql+pymysql://me:***@db/optuna"
