"""bulkmod: predict, diagnose and fix bulk-modulus (K_VRH) models of inorganic crystals."""

import os

# LightGBM/XGBoost OpenMP threads spin while waiting by default; when bulkmod shares the CPU with other
# processes (parallel folds, Ray workers, a test run) that spinning slowed a 5-fold benchmark >20x here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bulkmod.errors import BulkmodError

__version__ = "0.1.0"
__all__ = ["BulkmodError", "__version__"]
