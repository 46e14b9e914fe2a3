import numpy as np
import pytest

from bulkmod.models import Estimator, build_model

FAST = {"learning_rate": 0.1}


@pytest.fixture(scope="module")
def fitted(mp_split):
    train, _ = mp_split
    return build_model("qlgbm", params=FAST, inner_folds=3).fit(train, train.y_log10)


def test_quantile_boosters_order_and_cqr_calibrates(fitted, mp_split):
    train, test = mp_split
    lo, mid, hi = (m.predict(test).mean_log10 for m in fitted.members)
    assert np.mean(lo <= mid) > 0.8 and np.mean(mid <= hi) > 0.8  # the 5/50/95 % boosters are ordered
    raw_oof = (fitted.members[0].oof_log10 <= train.y_log10) & (train.y_log10 <= fitted.members[2].oof_log10)
    assert fitted.conformal.normalized and fitted.conformal.n_calibration == len(train)
    pred = fitted.predict(test)
    np.testing.assert_allclose(pred.mean_log10, mid)
    assert np.all(pred.lo90_log10 < pred.hi90_log10)
    width = pred.hi90_log10 - pred.lo90_log10
    assert width.std() > 0.05 * width.mean()
    cover = np.mean((test.y_log10 >= pred.lo90_log10) & (test.y_log10 <= pred.hi90_log10))
    # the conformal factor moves the raw band toward 90 % on the training part: > 1 if it under-covered
    assert (fitted.conformal.q90 > 1) == (raw_oof.mean() < 0.9) and cover > 0.7


def test_quantile_round_trip_and_raw_band(fitted, mp_split, tmp_path):
    train, test = mp_split
    fitted.save(tmp_path / "q")
    again = Estimator.load(tmp_path / "q")
    np.testing.assert_allclose(again.predict(test).hi90_log10, fitted.predict(test).hi90_log10, rtol=1e-9)
    raw = build_model("qlgbm", params=FAST | {"cqr": False}, inner_folds=3).fit(train, train.y_log10)
    assert raw.conformal is None
    lo, hi = (m.predict(test).mean_log10 for m in (raw.members[0], raw.members[2]))
    np.testing.assert_allclose(raw.predict(test).hi90_log10, np.maximum(np.maximum(lo, hi), (lo + hi) / 2 + 1e-3))


def test_the_quantile_scale_is_the_one_its_interval_uses(fitted, mp_split, check_scale_provider):
    check_scale_provider(fitted, mp_split[1])
