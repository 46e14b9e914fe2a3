import json

import numpy as np
import pandas as pd

from bulkmod.evaluation.benchmark import run_benchmark
from bulkmod.evaluation.results import SCHEMA

TOP_LEVEL = [
    "schema",
    "dataset",
    "train_dataset",
    "split",
    "model",
    "family",
    "n",
    "mae_log10",
    "rmse_log10",
    "r2_log10",
    "mae_gpa",
    "r2_gpa",
    "spread_ratio",
    "per_fold",
    "command",
    "commit",
    "wall_s",
    "predictions",
]
UNCERTAINTY = ["coverage_50", "coverage_90", "mean_width90_log10", "miscalibration_area", "nll",
               "spearman_abs_err_std", "mae_top10_uncertain", "mae_rest"]  # fmt: skip


def test_results_schema_and_predictions_csv(tmp_path):
    out = tmp_path / "r.json"
    res = run_benchmark(
        "mp-binary-2025",
        "lgbm",
        limit=150,
        folds=3,
        out=out,
        model_config={"params": {"learning_rate": 0.1}, "inner_folds": 2},
    )
    saved = json.loads(out.read_text())
    assert all(k in saved for k in TOP_LEVEL) and saved["schema"] == SCHEMA
    assert saved["n"] == 150 and len(saved["per_fold"]) == 3
    preds = pd.read_csv(tmp_path / saved["predictions"])
    assert list(preds.columns) == [
        "id",
        "fold",
        "y_true_log10",
        "y_pred_log10",
        "std_log10",
        "lo90_log10",
        "hi90_log10",
        "formula",
        "n_elements",
        "crystal_system",
        "has_structure",
        "source",
    ]
    assert preds["has_structure"].all() and set(preds["n_elements"]) == {2}
    assert set(preds["crystal_system"]) <= {"triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal",
                                            "hexagonal", "cubic"} and preds["crystal_system"].nunique() > 2  # fmt: skip
    assert set(preds["source"]) == {"mp-binary-2025"}
    assert all("coverage_90" in f and "mean_width90_log10" in f for f in saved["per_fold"])
    assert saved["per_group"] == {}  # every crystal is a binary with a structure from one source: nothing to split
    assert len(preds) == 150 and preds["id"].is_unique and set(preds["fold"]) == {0, 1, 2}
    mae = np.mean(np.abs(preds["y_pred_log10"] - preds["y_true_log10"]))
    assert np.isclose(mae, res["mae_log10"])
    assert preds["lo90_log10"].notna().all() and 0 < res["coverage_90"] <= 1
    assert all(k in saved for k in UNCERTAINTY), set(UNCERTAINTY) - set(saved)
    inside = (preds["y_true_log10"] >= preds["lo90_log10"]) & (preds["y_true_log10"] <= preds["hi90_log10"])
    assert np.isclose(inside.mean(), saved["coverage_90"])
    assert all("coverage_90" in b for b in saved["per_k_bin"] if b["n"])


def test_limit_is_a_fixed_subset(tmp_path):
    a = run_benchmark("mp-binary-2025", "mean", limit=50, folds=2)
    b = run_benchmark("mp-binary-2025", "mean", limit=50, folds=2)
    assert a["n"] == 50 and a["mae_log10"] == b["mae_log10"]


def test_matbench_results_compare_with_the_leaderboard():
    res = run_benchmark("matbench-log-kvrh-comp", "mean", split="matbench-official", limit=400)
    board = {r["model"]: r for r in res["leaderboard"]}
    assert "CrabNet" in board and board["CrabNet"]["n_shared"] == 400
    assert board["dummy"]["mae_leaderboard"] > board["alignn"]["mae_leaderboard"]
