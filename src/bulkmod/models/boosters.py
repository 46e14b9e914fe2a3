"""Tree-ensemble back ends behind the descriptor model: LightGBM (GBDT and random forest) and XGBoost.

Each saves to its library's own text/JSON format, which loads without executing code; loading goes through
:mod:`bulkmod.models.formats`, which validates the file before the library's native parser sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bulkmod.models.formats import load_lightgbm, load_xgboost
from bulkmod.optional import require

MAX_ROUNDS = 4000
EARLY_STOP = 200


class Booster(Protocol):
    weights_file: str
    early_stops: bool  # False: a fixed number of rounds, so a validation split chooses nothing

    def train(
        self, X: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None, rounds: int | None
    ) -> int: ...
    def predict(self, X: np.ndarray) -> np.ndarray: ...
    def save(self, path: Path) -> None: ...
    def load(self, path: Path, n_features: int) -> None:
        """Read a saved model that takes ``n_features`` input columns (anything else is refused)."""


class LightGBMBooster:
    """Gradient boosting (``rf=False``) or LightGBM's random-forest mode (``rf=True``)."""

    weights_file = "model.lgbm.txt"

    def __init__(self, params: dict[str, Any], seed: int, rf: bool = False) -> None:
        base = {
            "objective": "regression",
            "learning_rate": 0.03,
            "num_leaves": 31,
            "min_data_in_leaf": 10,
            "feature_fraction": 0.5,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
        }
        if rf:  # a random forest: bootstrap-like bagging, sqrt-ish feature sampling, deep trees, no shrinkage
            base = {
                "objective": "regression",
                "boosting": "rf",
                "num_leaves": 2048,
                "min_data_in_leaf": 2,
                "feature_fraction": 0.33,
                "bagging_fraction": 0.632,
                "bagging_freq": 1,
            }
        self.rf = rf
        self.early_stops = not rf
        self.params = base | params | {"seed": seed, "verbosity": -1, "deterministic": True, "force_row_wise": True}
        self.model = None

    def train(self, X, y, val, rounds):
        import lightgbm as lgb

        dtrain = lgb.Dataset(X, y, free_raw_data=False)
        if self.rf:
            self.model = lgb.train(self.params, dtrain, num_boost_round=rounds or 500)
            return self.model.current_iteration()
        if rounds is not None or val is None:
            self.model = lgb.train(self.params, dtrain, num_boost_round=rounds or MAX_ROUNDS)
            return self.model.current_iteration()
        dval = lgb.Dataset(val[0], val[1], reference=dtrain)
        self.model = lgb.train(
            self.params,
            dtrain,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[dval],
            callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)],
        )
        return self.model.best_iteration

    def predict(self, X):
        return self.model.predict(X, num_iteration=self.model.best_iteration or None)

    def save(self, path):
        self.model.save_model(str(path))

    def load(self, path, n_features):
        self.model = load_lightgbm(path, n_features)


class XGBoostBooster:
    weights_file = "model.xgb.json"
    early_stops = True

    def __init__(self, params: dict[str, Any], seed: int) -> None:
        base = {
            "eta": 0.03,
            "max_depth": 6,
            "subsample": 0.8,
            "colsample_bytree": 0.5,
            "min_child_weight": 2,
            "lambda": 1.0,
            "tree_method": "hist",
        }
        self.params = base | {"objective": "reg:squarederror"} | params | {"seed": seed}
        self.model = None
        require("xgboost")

    def train(self, X, y, val, rounds):
        import xgboost as xgb

        dtrain = xgb.DMatrix(X, y)
        if rounds is not None or val is None:
            self.model = xgb.train(self.params, dtrain, num_boost_round=rounds or MAX_ROUNDS)
            return rounds or MAX_ROUNDS
        dval = xgb.DMatrix(val[0], val[1])
        self.model = xgb.train(
            self.params,
            dtrain,
            num_boost_round=MAX_ROUNDS,
            evals=[(dval, "val")],
            early_stopping_rounds=EARLY_STOP,
            verbose_eval=False,
        )
        return self.model.best_iteration + 1

    def predict(self, X):
        import xgboost as xgb

        best = getattr(self.model, "best_iteration", None)
        rng = (0, best + 1) if best is not None else (0, 0)
        return self.model.predict(xgb.DMatrix(X), iteration_range=rng)

    def save(self, path):
        self.model.save_model(str(path))

    def load(self, path, n_features):
        self.model = load_xgboost(path, n_features)


def make_booster(backend: str, params: dict[str, Any], seed: int) -> Booster:
    if backend == "lgbm":
        return LightGBMBooster(params, seed)
    if backend == "rf":
        return LightGBMBooster(params, seed, rf=True)
    if backend == "xgb":
        return XGBoostBooster(params, seed)
    raise ValueError(f"unknown booster {backend!r}")
