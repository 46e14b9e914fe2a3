"""Descriptor-model benchmarks of the foundation issue, each run resumable and recorded separately.

    python benchmarks/descriptor_models.py [--only NAME ...] [--force]

Every run writes ``benchmarks/results/descriptor_models/<name>.json`` (bulkmod-results/1) and its predictions CSV; a run
whose JSON exists is skipped, so a killed session loses at most the run in progress. The summary
``benchmarks/results/descriptor_models/descriptor_models.md`` is rebuilt from whatever JSON files exist.
"""

from __future__ import annotations

from pathlib import Path

from bulkmod.evaluation.benchmark import run_named
from bulkmod.features import FeatureConfig
from bulkmod.reports.tables import results_table

RESULTS = Path(__file__).resolve().parent / "results" / "descriptor_models"
INTERVALS = {"inner_folds": 5}  # nested early stopping + conformal calibration on the training part

BASE = ("magpie", "stoich", "spacegroup")


def huber(alpha: float) -> dict:
    """LightGBM's Huber objective; ``alpha`` is in standardised-target units (1 = one std of log10 K, ~0.37)."""
    return {"objective": "huber", "alpha": alpha}


RUNS: dict[str, dict] = {
    "mp-binary-2025_mean_kfold": {"dataset": "mp-binary-2025", "model": "mean"},
    "mp-binary-2025_rf_kfold": {"dataset": "mp-binary-2025", "model": "rf"},
    "mp-binary-2025_xgb_kfold": {"dataset": "mp-binary-2025", "model": "xgb", "model_config": INTERVALS},
    "mp-binary-2025_lgbm_kfold": {"dataset": "mp-binary-2025", "model": "lgbm", "model_config": INTERVALS},
    "mp-binary-2025_lgbm_formula-grouped": {
        "dataset": "mp-binary-2025",
        "model": "lgbm",
        "split": "formula-grouped",
        "model_config": INTERVALS,
    },
    "mp-binary-2025_lgbm_ood-elastic2015": {
        "dataset": "mp-binary-2025",
        "model": "lgbm",
        "split": "ood-elastic2015",
        "model_config": INTERVALS,
    },
    "matbench-log-kvrh-comp_mean_official": {
        "dataset": "matbench-log-kvrh-comp",
        "model": "mean",
        "split": "matbench-official",
    },
    "matbench-log-kvrh-comp_rf_official": {
        "dataset": "matbench-log-kvrh-comp",
        "model": "rf",
        "split": "matbench-official",
    },
    "matbench-log-kvrh-comp_lgbm_official": {
        "dataset": "matbench-log-kvrh-comp",
        "model": "lgbm",
        "split": "matbench-official",
    },
    # nested choice among feature sets and booster settings, made on inner folds of each training part only
    "matbench-log-kvrh-comp_lgbm-nested_official": {
        "dataset": "matbench-log-kvrh-comp",
        "model": "lgbm",
        "split": "matbench-official",
        "model_config": {
            "candidates": [
                {"features": ["magpie", "stoich", "spacegroup"]},
                {"features": ["magpie", "stoich", "fractions", "spacegroup"]},
                {
                    "features": ["magpie", "stoich", "fractions", "extra", "spacegroup"],
                    "params": {"num_leaves": 63, "min_data_in_leaf": 5, "feature_fraction": 0.3, "learning_rate": 0.02},
                },
                {
                    "features": ["magpie", "stoich", "fractions", "spacegroup"],
                    "params": {
                        "num_leaves": 127,
                        "min_data_in_leaf": 3,
                        "feature_fraction": 0.25,
                        "lambda_l2": 3.0,
                        "learning_rate": 0.02,
                    },
                },
            ]
        },
    },
    # neighbour-target features alone (training log10 K of the same formula / nearest compositions, out of fold)
    "matbench-log-kvrh-comp_lgbm-neighbours_official": {
        "dataset": "matbench-log-kvrh-comp",
        "model": "lgbm",
        "split": "matbench-official",
        "model_config": {"neighbours": True},
    },
    # Huber loss (alpha chosen on an inner split of fold 0's training part, exploration/matbench_neighbours.py),
    # with or without neighbour features: chosen per fold on a 10 % holdout of that fold's training part
    "matbench-log-kvrh-comp_lgbm-huber-nested-neighbours_official": {
        "dataset": "matbench-log-kvrh-comp",
        "model": "lgbm",
        "split": "matbench-official",
        "model_config": {
            "features": FeatureConfig(BASE).as_dict(),
            "params": huber(0.15),
            "candidates": [{"neighbours": False}, {"neighbours": True}],
        },
    },
    # the Huber width chosen per fold too (10 % holdout of each training part), no neighbour features
    "matbench-log-kvrh-comp_lgbm-huber-nested_official": {
        "dataset": "matbench-log-kvrh-comp",
        "model": "lgbm",
        "split": "matbench-official",
        "model_config": {
            "features": FeatureConfig(BASE).as_dict(),
            "candidates": [{"params": huber(0.15)}, {"params": huber(0.3)}],
        },
    },
}


def main() -> None:
    done = run_named(RUNS, RESULTS, __doc__)
    (RESULTS / "descriptor_models.md").write_text(
        "# Descriptor models\n\nMade by `python benchmarks/descriptor_models.py`; one JSON per row beside this file."
        "\n\n" + results_table(done) + "\n"
    )


if __name__ == "__main__":
    main()
