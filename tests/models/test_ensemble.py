import numpy as np
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.models import Estimator, build_model
from bulkmod.models.ensemble import _mixture
from bulkmod.uncertainty.conformal import TEMPER_POWERS, ConformalInterval

FAST = {"learning_rate": 0.1}


@pytest.fixture(scope="module")
def fitted(mp_split):
    train, _ = mp_split
    params = FAST | {"member": "lgbm", "members": 3, "bootstrap": True, "n_jobs": 2}
    return build_model("ensemble", params=params).fit(train, train.y_log10)


def test_ensemble_spread_is_calibrated_and_varies(fitted, mp_split):
    _, test = mp_split
    pred = fitted.predict(test)
    width = pred.hi90_log10 - pred.lo90_log10
    assert fitted.conformal.normalized and fitted.train_info["n_calibration"] == 36
    assert width.std() > 0.05 * width.mean()  # an interval per crystal, not one band
    members = fitted.member_predictions(test)
    assert members.shape == (3, len(test)) and not np.allclose(members[0], members[1])  # seeds + bootstrap differ
    np.testing.assert_allclose(pred.mean_log10, members.mean(0))
    ens_mae = np.mean(np.abs(pred.mean_log10 - test.y_log10))
    assert ens_mae <= np.mean(np.abs(members - test.y_log10), axis=1).max()


def test_ensemble_round_trip_and_member_tampering(fitted, mp_split, tmp_path):
    _, test = mp_split
    fitted.save(tmp_path / "ens")
    again = Estimator.load(tmp_path / "ens")
    np.testing.assert_allclose(again.predict(test).hi90_log10, fitted.predict(test).hi90_log10, rtol=1e-9)
    weights = tmp_path / "ens" / "member_1" / "model.lgbm.txt"
    weights.write_text(weights.read_text() + "\n")
    with pytest.raises(BulkmodError, match="sha256"):
        Estimator.load(tmp_path / "ens")


@pytest.mark.parametrize("refit", [True, False])
def test_refit_members_train_on_every_row_after_calibration(mp_split, refit):
    train, _ = mp_split
    params = FAST | {"members": 2, "refit": refit, "n_jobs": 1}
    model = build_model("ensemble", params=params, inner_folds=1).fit(train, train.y_log10)  # no cross-fitting
    n_seen = [m.train_info["n"] for m in model.members]
    assert n_seen == [240, 240] if refit else n_seen == [204, 204]
    assert model.conformal.n_calibration == 36 and model.train_info["n_member_train"] == n_seen[0]
    assert model.train_info["calibration"] == "split"


def test_cross_fitted_members_calibrate_on_every_training_row(mp_split):
    """Default for descriptor members: each trains on all rows with 5 inner folds; their out-of-fold mixture
    calibrates the interval, and the std adds each member's own (calibrated) std to their disagreement."""
    train, test = mp_split
    model = build_model("ensemble", params=FAST | {"members": 3, "n_jobs": 1}).fit(train, train.y_log10)
    assert model.train_info["calibration"] == "cross-fit" and model.conformal.n_calibration == len(train)
    assert [m.train_info["n"] for m in model.members] == [len(train)] * 3
    assert all(m.inner_folds == 5 and m.oof_std_log10 is not None for m in model.members)
    preds = [m.predict(test) for m in model.members]
    means, stds = np.stack([p.mean_log10 for p in preds]), np.stack([p.std_log10 for p in preds])
    mixed = model._combine(test)
    np.testing.assert_allclose(mixed.std_log10**2, means.var(0) + (stds**2).mean(0), rtol=1e-9)
    assert np.all(mixed.std_log10 > means.std(0))  # wider than the spread alone
    again = build_model("ensemble", **model.config())
    assert again.cross_fit and again.member_config["inner_folds"] == 5  # the saved config round-trips
    assert model.conformal.power == 1.0 and not again.temper


def test_tempered_ensemble_picks_the_narrowest_calibrated_power(mp_split):
    train, _ = mp_split
    model = build_model("ensemble", params=FAST | {"members": 2, "n_jobs": 1, "temper": True})
    model.fit(train, train.y_log10)
    oof = _mixture([m.oof_log10 for m in model.members], [m.oof_std_log10 for m in model.members])
    widths = {
        p: ConformalInterval.from_residuals(oof.mean_log10 - train.y_log10, oof.std_log10, p).q90
        * np.mean(oof.std_log10**p)
        for p in TEMPER_POWERS
    }
    assert model.conformal.power == min(widths, key=widths.get) and build_model("ensemble", **model.config()).temper


def test_ensemble_options_are_checked():
    with pytest.raises(BulkmodError, match="members"):
        build_model("ensemble", params={"members": 1})
