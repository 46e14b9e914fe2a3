"""Split-conformal intervals at any level: finite-sample coverage, and the same bands as a reference library."""

from __future__ import annotations

import numpy as np
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.uncertainty.conformal import ConformalInterval

LEVELS = (0.5, 0.68, 0.8, 0.9, 0.95)


@pytest.mark.parametrize("normalised", [False, True])
def test_coverage_holds_at_every_level_on_exchangeable_data(normalised):
    """Marginal coverage over many calibration/test draws lies in [level, level + 1/(n+1)] (plus MC noise)."""
    rng = np.random.default_rng(0)
    n_cal, n_test, draws = 99, 200, 400
    hits = {lv: [] for lv in LEVELS}
    for _ in range(draws):
        scale = rng.uniform(0.5, 2.0, n_cal + n_test)
        err = rng.standard_t(3, n_cal + n_test) * scale  # heavy tails: no Gaussian shortcut works
        cal = ConformalInterval.from_residuals(err[:n_cal], scale=scale[:n_cal] if normalised else None)
        for lv in LEVELS:
            lo, hi = cal.bounds(np.zeros(n_test), level=lv, scale=scale[n_cal:] if normalised else None)
            hits[lv].append(np.mean((err[n_cal:] >= lo) & (err[n_cal:] <= hi)))
    for lv in LEVELS:
        cov = float(np.mean(hits[lv]))
        assert lv - 0.005 <= cov <= lv + 1 / (n_cal + 1) + 0.005, (lv, cov)
    assert len({round(float(np.mean(h)), 2) for h in hits.values()}) == len(LEVELS)  # the level is really used


def test_bands_equal_crepes_conformal_regressor():
    crepes = pytest.importorskip("crepes")
    rng = np.random.default_rng(1)
    residuals, sigmas = rng.normal(size=301), rng.uniform(0.2, 3.0, 301)
    ours_plain = ConformalInterval.from_residuals(residuals)
    ours_norm = ConformalInterval.from_residuals(residuals, scale=sigmas)
    ref_plain = crepes.ConformalRegressor().fit(residuals)
    ref_norm = crepes.ConformalRegressor().fit(residuals, sigmas=sigmas)
    y_hat, test_sigmas = rng.normal(size=10), rng.uniform(0.2, 3.0, 10)
    for lv in LEVELS:
        np.testing.assert_allclose(np.column_stack(ours_plain.bounds(y_hat, level=lv)),
                                   ref_plain.predict_int(y_hat, confidence=lv), rtol=1e-12)  # fmt: skip
        ref = ref_norm.predict_int(y_hat, sigmas=test_sigmas, confidence=lv)
        ours = np.column_stack(ours_norm.bounds(y_hat, level=lv, scale=test_sigmas))
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_models_saved_without_scores_keep_their_two_levels_and_say_so_for_others():
    fresh = ConformalInterval.from_residuals(np.random.default_rng(2).normal(size=50))
    old = ConformalInterval.from_dict({k: v for k, v in fresh.as_dict().items() if k != "scores"})
    assert old.half_width(0.9) == fresh.half_width(0.9) == fresh.q90
    assert old.half_width(0.5) == fresh.q50
    with pytest.raises(BulkmodError, match="saved with its 90 % and 50 % quantiles only"):
        old.half_width(0.8)
    assert ConformalInterval.from_dict(fresh.as_dict()).half_width(0.8) == fresh.half_width(0.8)
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(BulkmodError, match="need 0 < level < 1"):
            fresh.half_width(bad)
