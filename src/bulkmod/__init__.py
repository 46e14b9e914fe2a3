"""bulkmod: predict, diagnose and fix bulk-modulus (K_VRH) models of inorganic crystals."""

import os

# LightGBM/XGBoost OpenMP threads spin while waiting by default; when bulkmod shares the CPU with other
# processes (parallel folds, Ray workers, a test run) that spinning slowed a 5-fold benchmark >20x here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import Any

from bulkmod.errors import BulkmodError

__version__ = "0.1.0"
API = ("Model", "benchmark", "list_models", "load_dataset", "load_model", "predict", "train")
__all__ = ["BulkmodError", "__version__", *API]


def __getattr__(name: str) -> Any:
    """The Python API (:mod:`bulkmod.api`), imported on first use: ``import bulkmod`` stays light for the CLI."""
    if name in API:
        from bulkmod import api

        return getattr(api, name)
    raise AttributeError(f"module 'bulkmod' has no attribute {name!r}")
