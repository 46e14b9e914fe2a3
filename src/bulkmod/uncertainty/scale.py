"""Scale providers: where the per-crystal σ(x) of a normalised interval comes from.

A normalised conformal interval is ``mean +- q * σ(x)``: the calibrator (:class:`ConformalInterval`) finds ``q``
from held-out residuals, the scale provider says how hard each crystal is. Keeping the two apart lets any
scale meet any calibrator, and lets a new scale (jackknife+ spread, an evidential head) arrive as one provider.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from bulkmod.data.records import Dataset
from bulkmod.uncertainty.constants import STD_FLOOR


@runtime_checkable
class ScaleProvider(Protocol):
    """A per-crystal scale σ(x) in log10(K) units, uncalibrated: a calibrator turns it into an interval.

    ``scale_name`` names the method (for cards and results); ``scale`` computes σ from the same inputs the model
    predicts from, one value per row of ``ds`` (rows the model cannot predict are the prediction's errors), or
    None where the model has no per-crystal scale (a constant interval).
    """

    @property
    def scale_name(self) -> str: ...

    def scale(self, ds: Dataset) -> np.ndarray | None: ...


def disagreement_std(means: np.ndarray) -> np.ndarray:
    """How much models trained on different data disagree: the std over models (axis 0), unbiased (ddof 1).

    Unbiased so that a few members at calibration and many inner models at test time estimate the same spread.
    """
    return np.maximum(np.std(means, axis=0, ddof=1), STD_FLOOR)


def mixture_std(means: list[np.ndarray], stds: list[np.ndarray | None]) -> np.ndarray:
    """The std of an equal-weight mixture of the models: their spread plus their own mean variance.

    Where some model has no std of its own, the spread alone.
    """
    var = np.stack(means).var(0)
    if all(s is not None for s in stds):
        var = var + np.mean(np.square(np.stack(stds)), axis=0)
    return np.maximum(np.sqrt(var), STD_FLOOR)
