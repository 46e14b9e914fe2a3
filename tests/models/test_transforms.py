"""Target transforms: the baseline offset a prediction adds back is exactly the one training took away."""

import numpy as np
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.models.transforms import BaselineOffset


def test_baseline_offset_falls_back_to_the_training_mean_and_inverts_forward():
    names = ["magpie_x", BaselineOffset.K0_COLUMN, BaselineOffset.FLAG_COLUMN]
    X = np.array([[0.0, 2.0, 0.0], [0.0, np.nan, 0.0], [0.0, 1.5, 1.0]])  # usable, no fit, flagged fit
    y = np.array([2.1, 1.9, 1.6])
    offset = BaselineOffset().fit(y)
    np.testing.assert_allclose(offset.offset(X, names), [2.0, y.mean(), y.mean()])
    np.testing.assert_allclose(offset.inverse(offset.forward(y, X, names), X, names), y)
    with pytest.raises(BulkmodError, match="not fitted"):
        BaselineOffset().offset(X, names)
