"""bulkmod: predict, diagnose and fix bulk-modulus (K_VRH) models of inorganic crystals."""

from bulkmod.errors import BulkmodError

__version__ = "0.1.0"
__all__ = ["BulkmodError", "__version__"]
