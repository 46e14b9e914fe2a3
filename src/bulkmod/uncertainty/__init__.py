"""Calibrated uncertainty: conformal intervals (ensembles and GPs come with the uncertainty issue)."""

from bulkmod.uncertainty.conformal import ConformalInterval

__all__ = ["ConformalInterval"]
