"""Cross-fitting: each row predicted by a model fitted without the fold it belongs to.

Conformal residuals, sigma-model targets, stacked and neighbour features all rest on it: a row's value must come
from a model that never saw that row, or the calibration is optimistic and a booster learns to trust a feature
that leaks its own target. One helper, so every such loop carves and fills its folds the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.model_selection import KFold

Folds = Sequence[tuple[np.ndarray, np.ndarray]]


def kfold(n: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold (train, test) indices of ``n`` rows: one seed gives every cross-fit of a model the same folds."""
    return list(KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n)))


def cross_fit(folds: Folds, n: int, fit_predict: Callable[[int, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Out-of-fold predictions of ``n`` rows, each from a model that never saw it.

    ``fit_predict(k, train, test)`` fits on fold ``k``'s training rows and predicts its test rows (the index lets a
    caller reuse per-fold work across cross-fits). Predictions may be rows of several columns; rows in no test part
    (a hold-out split, rows left out) stay NaN.
    """
    out: np.ndarray | None = None
    for k, (train, test) in enumerate(folds):
        pred = np.asarray(fit_predict(k, train, test), dtype=float)
        if out is None:
            out = np.full((n, *pred.shape[1:]), np.nan)
        out[test] = pred
    return np.full(n, np.nan) if out is None else out
