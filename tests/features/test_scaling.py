"""The NaN-robust standardiser every model and the domain check share."""

from __future__ import annotations

import warnings

import numpy as np

from bulkmod.features.scaling import Standardiser


def test_nan_columns_and_flat_columns_get_centre_0_scale_1() -> None:
    X = np.array([[1.0, np.nan, 5.0, 2.0], [3.0, np.nan, 5.0, np.nan], [np.nan, np.nan, 5.0 + 1e-9, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an all-NaN column is expected, not worth a warning
        scale = Standardiser.fit(X, floor=1e-6)
    np.testing.assert_allclose(scale.mean, [2.0, 0.0, 5.0, 3.0])
    np.testing.assert_allclose(scale.std, [1.0, 1.0, 1.0, 1.0])
    Z = scale.transform(X)
    assert np.all(np.isfinite(Z))
    assert Z[1, 3] == 0.0  # missing -> the training mean


def test_floor_is_the_callers() -> None:
    X = np.array([[0.0], [2e-9]])
    assert Standardiser.fit(X, floor=1e-12).std[0] == 1e-9
    assert Standardiser.fit(X, floor=1e-6).std[0] == 1.0
    assert Standardiser.fit(np.zeros((3, 1)), floor=0.0).std[0] == 1.0
