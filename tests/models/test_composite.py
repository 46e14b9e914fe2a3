"""What every composite model (routed, blend, ensemble, quantile) gets from :class:`CompositeEstimator`."""

from __future__ import annotations

import numpy as np
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.models import build_model
from bulkmod.models.base import Prediction
from bulkmod.models.composite import CompositeEstimator

COMPOSITES = {"structure-routed": False, "umlip-blend": True, "ensemble": True, "qlgbm": False}


@pytest.mark.parametrize("key", COMPOSITES)
def test_every_composite_refuses_to_predict_before_fit(key, mp_small) -> None:
    model = build_model(key)
    assert isinstance(model, CompositeEstimator) and model.members_comparable is COMPOSITES[key]
    with pytest.raises(BulkmodError, match="not fitted"):
        model.predict(mp_small.subset(range(3)))


def test_member_errors_are_merged_as_rows_of_the_composite_input() -> None:
    a = Prediction(np.zeros(2), errors={1: "a failed"})
    b = Prediction(np.zeros(3), errors={0: "b failed"})
    assert CompositeEstimator.merged_errors([a, b]) == {1: "a failed", 0: "b failed"}
    rows = [np.array([0, 4]), np.array([1, 2, 3])]
    assert CompositeEstimator.merged_errors([a, b], rows) == {4: "a failed", 1: "b failed"}
