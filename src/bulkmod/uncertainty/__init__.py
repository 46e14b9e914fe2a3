"""Calibrated uncertainty: split-conformal intervals at any level, and the descriptor-domain check.

The per-crystal scales these intervals normalise by come from the models (sigma boosters, ensemble spread,
GP and MC-dropout std, quantile half-widths).
"""

from bulkmod.uncertainty.conformal import ConformalInterval

__all__ = ["ConformalInterval"]
