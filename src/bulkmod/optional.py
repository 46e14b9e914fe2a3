"""Optional dependencies: import one, or say which extra of ``pip install bulkmod[...]`` brings it.

The core install predicts with the default model (SevenNet and CHGNet, torch-geometric under SevenNet) and writes
reports; the original MEGNet weights, relaxations, XGBoost, Ray and Optuna are extras (pyproject.toml), so a library
user is not made to take them all. Every place that first needs one calls :func:`require`, which turns a bare
``ModuleNotFoundError`` deep in a run into one line naming the command that fixes it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from bulkmod.errors import BulkmodError

# import name -> (extra that brings it, what needs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "h5py": ("graph", "the original MEGNet weights"),
    "matcalc": ("umlip", "relaxing structures (--relax)"),
    "xgboost": ("xgb", "XGBoost models"),
    "ray": ("scale", "the Ray backend"),
    "optuna": ("scale", "hyper-parameter tuning"),
    "sqlalchemy": ("scale", "tuning study storage"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` (a key of :data:`EXTRAS`), or raise a :class:`BulkmodError` naming its extra."""
    extra, purpose = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BulkmodError(
            f"{purpose}: the optional package {module!r} is not installed ({exc}); pip install 'bulkmod[{extra}]'"
        ) from None
