import numpy as np
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.models import Estimator, build_model
from bulkmod.models.ensemble import HYPER_LGBM, _mixture
from bulkmod.uncertainty.conformal import TEMPER_POWERS, ConformalInterval
from bulkmod.uncertainty.scale import disagreement_std

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
    """Default for descriptor members: each trains on all rows with 5 inner folds and keeps its inner models;
    the std of the members' out-of-fold predictions calibrates the interval, and at test the std is taken over
    the 15 inner models, which (like the out-of-fold predictions) were trained on different 80 % subsets."""
    train, test = mp_split
    model = build_model("ensemble", params=FAST | {"members": 3, "n_jobs": 1}).fit(train, train.y_log10)
    assert model.train_info["calibration"] == "cross-fit" and model.conformal.n_calibration == len(train)
    assert [m.train_info["n"] for m in model.members] == [len(train)] * 3
    assert all(m.options.inner_folds == 5 and len(m._inner) == 5 for m in model.members)
    oof = np.stack([m.oof_log10 for m in model.members])
    expected = ConformalInterval.normalised(oof.mean(0) - train.y_log10, oof.std(0, ddof=1))
    assert model.conformal.q90 == pytest.approx(expected.q90)
    inner = np.concatenate([m.predict_with_inner(test)[1] for m in model.members])
    assert inner.shape == (15, len(test))
    pred = model._combine(test)
    np.testing.assert_allclose(pred.std_log10, inner.std(0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(pred.mean_log10, model.member_predictions(test).mean(0), rtol=1e-12)
    # models on different subsets disagree more than the final members, which all trained on the same rows
    assert np.median(pred.std_log10) > np.median(model.member_predictions(test).std(0, ddof=1))
    again = build_model("ensemble", **model.config())
    cross_fit, member_config = again._member_plan()
    assert cross_fit and member_config["inner_folds"] == 5 and member_config["keep_inner"]
    assert again.options.sigma == "disagreement" and model.conformal.power == 1.0 and not again.options.temper


def test_disagreement_ensemble_round_trips_with_its_inner_models(mp_split, tmp_path):
    train, test = mp_split
    model = build_model("ensemble", params=FAST | {"members": 2, "n_jobs": 1}).fit(train, train.y_log10)
    model.save(tmp_path / "ens")
    assert len(list((tmp_path / "ens" / "member_0").glob("inner_*.model.lgbm.txt"))) == 5
    again = Estimator.load(tmp_path / "ens")
    a, b = model.predict(test), again.predict(test)
    np.testing.assert_allclose(b.lo90_log10, a.lo90_log10, rtol=1e-9)
    np.testing.assert_allclose(b.hi90_log10, a.hi90_log10, rtol=1e-9)
    (tmp_path / "ens" / "member_1" / "inner_3.model.lgbm.txt").unlink()
    with pytest.raises(BulkmodError, match="missing"):
        Estimator.load(tmp_path / "ens")


def test_mixture_sigma_adds_each_members_own_std_to_their_disagreement(mp_split):
    train, test = mp_split
    params = FAST | {"members": 3, "n_jobs": 1, "sigma": "mixture"}
    model = build_model("ensemble", params=params).fit(train, train.y_log10)
    assert all(m.oof_std_log10 is not None and not m._inner for m in model.members)
    preds = [m.predict(test) for m in model.members]
    means, stds = np.stack([p.mean_log10 for p in preds]), np.stack([p.std_log10 for p in preds])
    mixed = model._combine(test)
    np.testing.assert_allclose(mixed.std_log10**2, means.var(0) + (stds**2).mean(0), rtol=1e-9)
    assert np.all(mixed.std_log10 > means.std(0))  # wider than the spread alone


@pytest.mark.parametrize("sigma", ["disagreement", "mixture"])
def test_tempered_ensemble_picks_the_narrowest_calibrated_power(mp_split, sigma):
    train, _ = mp_split
    model = build_model("ensemble", params=FAST | {"members": 2, "n_jobs": 1, "temper": True, "sigma": sigma})
    model.fit(train, train.y_log10)
    oof = _mixture([m.oof_log10 for m in model.members], [m.oof_std_log10 for m in model.members])
    oof_means = np.stack([m.oof_log10 for m in model.members])
    scale = disagreement_std(oof_means) if sigma == "disagreement" else oof.std_log10
    widths = {
        p: ConformalInterval.from_residuals(oof.mean_log10 - train.y_log10, scale, p).q90 * np.mean(scale**p)
        for p in TEMPER_POWERS
    }
    assert model.conformal.power == min(widths, key=widths.get)
    assert build_model("ensemble", **model.config()).options.temper


def test_hyper_ensemble_members_differ_by_lightgbm_settings_and_keep_them(mp_split, tmp_path):
    """vary=hyper: member i trains with HYPER_LGBM[i] on top of the shared settings (member 0: the defaults)."""
    train, test = mp_split
    model = build_model("ensemble", params=FAST | {"members": 3, "n_jobs": 1, "vary": "hyper"}, inner_folds=2)
    model.fit(train, train.y_log10)
    for member, own in zip(model.members, HYPER_LGBM, strict=False):
        assert member.params == model.members[0].params | own
        assert member.params["learning_rate"] == FAST["learning_rate"]
        assert member._booster.params.items() >= own.items()
    assert model.members[1]._booster.params["num_leaves"] != model.members[2]._booster.params["num_leaves"]
    model.save(tmp_path / "hyper")
    again = Estimator.load(tmp_path / "hyper")
    assert again.options.vary == "hyper" and [m.params for m in again.members] == [m.params for m in model.members]
    np.testing.assert_allclose(again.predict(test).mean_log10, model.predict(test).mean_log10, rtol=1e-9)


def test_ensemble_options_are_checked(mp_split):
    with pytest.raises(BulkmodError, match="members"):
        build_model("ensemble", params={"members": 1})
    with pytest.raises(BulkmodError, match="sigma"):
        build_model("ensemble", params={"sigma": "bayes"})
    with pytest.raises(BulkmodError, match="vary"):
        build_model("ensemble", params={"vary": "everything"})
    with pytest.raises(BulkmodError, match="unknown member 'lgbmm'"):
        build_model("ensemble", params={"member": "lgbmm"})
    train, _ = mp_split
    with pytest.raises(BulkmodError, match="not LightGBM"):  # the member is built in fit, before any training
        build_model("ensemble", params={"member": "xgb", "vary": "hyper"}).fit(train, train.y_log10)
    with pytest.raises(BulkmodError, match="keep_inner"):
        build_model("lgbm", keep_inner=True, neighbours=True)


def test_the_ensemble_scale_is_the_one_its_interval_uses(fitted, mp_split, check_scale_provider):
    check_scale_provider(fitted, mp_split[1])
