"""Calibrated uncertainty: scale providers, the conformal calibrator, their floors and z-values, the domain check.

A per-crystal interval is a scale times a calibrated factor. Where things go:

- ``scale.py``: :class:`ScaleProvider`, what a per-crystal σ(x) is (a name and a function of the model's
  inputs). The estimators that have one implement it (``scale_name``, ``scale(ds)``): the descriptor model's
  log|residual| model, the ensemble's disagreement or mixture std, the GP std, the graph models' MC-dropout or
  Laplace std and the quantile half-width.
- ``residual_scale.py``: the log|residual| model behind the descriptor model's scale, on a regressor the caller
  makes.
- ``conformal.py``: the calibrator, split-conformal (constant, normalised, tempered) at any level; ``cqr.py``:
  conformalised quantile regression on a raw quantile band.
- ``crossfit.py``: out-of-fold fitting, which keeps every calibration residual and scale honest.
- ``constants.py``: every floor and z-value, with why each value.
- ``laplace.py``, ``domain.py``: the last-layer Laplace posterior and the descriptor-domain check.

A new method goes here as one module: a new scale (jackknife+ spread, an evidential head) as a scale provider,
a new calibrator beside ``conformal.py``, selected by an estimator option. Nothing here imports ``models``.
"""

from bulkmod.uncertainty.conformal import ConformalInterval
from bulkmod.uncertainty.scale import ScaleProvider

__all__ = ["ConformalInterval", "ScaleProvider"]
