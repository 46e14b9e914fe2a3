"""Tree-ensemble back ends behind the descriptor model: LightGBM (GBDT and random forest) and XGBoost.

Each saves to its library's own text/JSON format, which loads without executing code; loading goes through
:mod:`bulkmod.models.formats`, which validates the file before the library's native parser sees it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bulkmod.errors import BulkmodError
from bulkmod.models.formats import load_lightgbm, load_xgboost
from bulkmod.optional import require

MAX_ROUNDS = 4000
EARLY_STOP = 200


class Booster(Protocol):
    """What the descriptor model asks of a tree-ensemble back end: train, predict, save and a checked load."""

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
    """Gradient boosting with XGBoost, saved as its JSON model; it stops early on a validation split."""

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


def _lightgbm_names() -> set[str]:
    from lightgbm.basic import _ConfigAliases

    aliases = _ConfigAliases._get_all_param_aliases()  # every parameter LightGBM's C++ config knows, with aliases
    return set(aliases) | {a for names in aliases.values() for a in names}


def _xgboost_names(params: dict[str, Any]) -> set[str]:
    """The parameter names an XGBoost booster trained with ``params`` records in its configuration."""
    xgb = require("xgboost")
    booster = xgb.train(params | {"verbosity": 0}, xgb.DMatrix(np.zeros((4, 1)), label=np.arange(4.0)), 1)
    names: set[str] = set()
    stack: list[Any] = [json.loads(booster.save_config())]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            names |= set(node)
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return names


def check_booster_params(backend: str, params: dict[str, Any], own: Iterable[str] = ()) -> None:
    """Refuse a hyper-parameter the booster does not know, or a value it cannot parse, before any training.

    Neither library refuses an unknown name (each logs a warning at most), so a typo such as ``num_leave=63``
    would otherwise train with the default and be saved as if it had been used. ``own`` names the model's own
    options, listed in the error beside the booster's.
    """
    lib, examples = ("XGBoost", "max_depth, eta") if backend == "xgb" else ("LightGBM", "num_leaves, learning_rate")
    try:
        if backend == "xgb":
            known = _xgboost_names(params)
        else:
            import lightgbm as lgb

            known = _lightgbm_names()
            lgb.Dataset(np.zeros((4, 1)), np.arange(4.0), params=params | {"verbosity": -1}).construct()
    except BulkmodError:
        raise
    except Exception as exc:  # the library's own parser names the key and the type it wanted
        why = str(exc).splitlines()[0][:300]
        hint = " (a text value where a number belongs)" if "Unknown token" in why else ""
        raise BulkmodError(f"--param: {lib} cannot use {params}: {why}{hint}") from None
    unknown = sorted(set(params) - known)
    if unknown:
        mine = f"this model's own options: {', '.join(own)}; " if own else ""
        raise BulkmodError(
            f"--param {', '.join(unknown)}: not an option of this model ({mine}or any {lib} parameter by its "
            f"{lib} name, e.g. {examples})"
        )


def make_booster(backend: str, params: dict[str, Any], seed: int) -> Booster:
    """The untrained back end ``lgbm``, ``rf`` (LightGBM's random-forest mode) or ``xgb`` names."""
    if backend == "lgbm":
        return LightGBMBooster(params, seed)
    if backend == "rf":
        return LightGBMBooster(params, seed, rf=True)
    if backend == "xgb":
        return XGBoostBooster(params, seed)
    raise ValueError(f"unknown booster {backend!r}")
