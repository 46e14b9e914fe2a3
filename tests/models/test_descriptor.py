import json

import numpy as np
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.models import Estimator, build_model
from bulkmod.models.transforms import TargetTransform

FAST = {"params": {"learning_rate": 0.1}}


@pytest.fixture(scope="module")
def split(mp_small):
    return mp_small.subset(range(240)), mp_small.subset(range(240, 300))


@pytest.mark.parametrize("key", ["lgbm", "xgb", "rf"])
def test_descriptor_models_learn_and_round_trip(key, split, tmp_path):
    train, test = split
    model = build_model(key, **({} if key == "rf" else FAST)).fit(train, train.y_log10)
    pred = model.predict(test)
    mae = np.mean(np.abs(pred.mean_log10 - test.y_log10))
    base = np.mean(np.abs(np.mean(train.y_log10) - test.y_log10))
    assert mae < 0.6 * base, (mae, base)
    model.save(tmp_path / key)
    loaded = Estimator.load(tmp_path / key)
    np.testing.assert_allclose(loaded.predict(test).mean_log10, pred.mean_log10, rtol=1e-6)


@pytest.mark.parametrize(("key", "fits"), [("rf", 1), ("lgbm", 2)])
def test_a_hold_out_is_fitted_only_when_it_chooses_something(key, fits, split, monkeypatch):
    """rf has a fixed number of trees: fitting it on a 90 % hold-out first would only double its cost."""
    from bulkmod.models import boosters

    calls = []
    train_one = boosters.LightGBMBooster.train
    monkeypatch.setattr(boosters.LightGBMBooster, "train", lambda self, *a: calls.append(a[3]) or train_one(self, *a))
    model = build_model(key, **FAST).fit(*split[:1], split[0].y_log10)
    assert len(calls) == fits and model.rounds == (500 if key == "rf" else calls[-1])


def test_inner_folds_give_adaptive_conformal_intervals(split, tmp_path):
    train, test = split
    model = build_model("lgbm", inner_folds=3, **FAST).fit(train, train.y_log10)
    pred = model.predict(test)
    assert model.conformal is not None and model.conformal.normalized
    assert model.conformal.n_calibration == len(train)
    width = pred.hi90_log10 - pred.lo90_log10
    assert np.all(width > 0) and width.std() > 0.05 * width.mean()  # not one constant band
    np.testing.assert_allclose(pred.std_log10 * 2 * 1.6448536, width, rtol=1e-6)
    cover = np.mean((test.y_log10 >= pred.lo90_log10) & (test.y_log10 <= pred.hi90_log10))
    assert cover > 0.7
    model.save(tmp_path / "m")
    again = Estimator.load(tmp_path / "m").predict(test)
    np.testing.assert_allclose(again.lo90_log10, pred.lo90_log10, rtol=1e-9)


def test_constant_interval_option(split):
    train, test = split
    model = build_model("lgbm", inner_folds=3, interval="constant", **FAST).fit(train, train.y_log10)
    pred = model.predict(test)
    assert not model.conformal.normalized and pred.std_log10 is None
    np.testing.assert_allclose(pred.hi90_log10 - pred.lo90_log10, 2 * model.conformal.q90)


def test_tampered_weights_are_refused(split, tmp_path):
    train, _ = split
    build_model("lgbm", **FAST).fit(train, train.y_log10).save(tmp_path / "m")
    weights = tmp_path / "m" / "model.lgbm.txt"
    weights.write_text(weights.read_text().replace("learning_rate", "learning_rat3", 1))
    with pytest.raises(BulkmodError, match="sha256"):
        Estimator.load(tmp_path / "m")


def test_manifest_records_provenance(split, tmp_path):
    train, _ = split
    build_model("mean").fit(train, train.y_log10).save(tmp_path / "m", metrics={"mae_log10": 0.3})
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["model"] == "mean" and manifest["family"] == "baseline"
    assert manifest["train"]["n"] == 240 and len(manifest["train"]["data_hash"]) == 16
    assert "numpy" in manifest["versions"] and manifest["metrics"]["mae_log10"] == 0.3


def test_not_a_model_directory(tmp_path):
    with pytest.raises(BulkmodError, match="not a bulkmod model"):
        Estimator.load(tmp_path)


@pytest.mark.parametrize("space", ["log10", "gpa"])
@pytest.mark.parametrize("standardize", [True, False])
def test_target_transform_round_trips(space, standardize):
    y = np.log10(np.array([2.0, 50.0, 120.0, 400.0]))
    tf = TargetTransform(space, standardize).fit(y)
    np.testing.assert_allclose(tf.inverse(tf.forward(y)), y, atol=1e-12)
    again = TargetTransform.from_dict(json.loads(json.dumps(tf.as_dict())))
    np.testing.assert_allclose(again.forward(y), tf.forward(y))
    if standardize:
        assert abs(tf.forward(y).mean()) < 1e-12


def test_gpa_space_clips_non_physical_predictions():
    tf = TargetTransform("gpa", standardize=False)
    assert np.isfinite(tf.inverse(np.array([-5.0]))).all()


def test_candidates_are_chosen_on_inner_folds_and_predict_consistently(split, tmp_path):
    train, test = split
    cands = [
        {"features": ["magpie"]},
        {"features": ["density", "magpie", "bonds"], "params": {"num_leaves": 7}},
    ]
    model = build_model("lgbm", candidates=cands, inner_folds=2, **FAST).fit(train, train.y_log10)
    sel = model.train_info["selection"]
    assert len(sel) == 2 and all(s["inner_mae_log10"] > 0 for s in sel)
    best = min(sel, key=lambda s: s["inner_mae_log10"])
    assert list(model.features.groups) == best["features"]
    model.save(tmp_path / "m")
    pred = model.predict(test).mean_log10
    np.testing.assert_allclose(Estimator.load(tmp_path / "m").predict(test).mean_log10, pred, rtol=1e-6)
    # the chosen model is the one refitted on all training rows with those groups
    again = build_model("lgbm", features={"groups": best["features"], "shell_tol": 0.25, "version": "1"},
                        params=best["params"], inner_folds=2, seed=0).fit(train, train.y_log10)  # fmt: skip
    np.testing.assert_allclose(again.predict(test).mean_log10, pred, rtol=1e-6)


def test_tempered_interval_is_a_monotone_flattening_of_the_adaptive_one(split, tmp_path):
    from scipy.stats import spearmanr

    from bulkmod.uncertainty.conformal import TEMPER_POWERS

    train, test = split
    tempered = build_model("lgbm", inner_folds=3, params={"learning_rate": 0.1, "interval": "tempered"})
    tempered.fit(train, train.y_log10)
    adaptive = build_model("lgbm", inner_folds=3, **FAST).fit(train, train.y_log10)
    assert tempered.options.interval == "tempered" and tempered.conformal.power in TEMPER_POWERS
    assert "interval" not in tempered.params  # an interval option, not a LightGBM parameter
    a, t = adaptive.predict(test), tempered.predict(test)
    np.testing.assert_allclose(t.mean_log10, a.mean_log10)  # same point model and sigma model
    wa, wt = a.hi90_log10 - a.lo90_log10, t.hi90_log10 - t.lo90_log10
    assert spearmanr(wa, wt).statistic > 0.999  # same ranking of crystals ...
    assert wt.std() / wt.mean() <= wa.std() / wa.mean() + 1e-12  # ... with relative spread no larger
    tempered.save(tmp_path / "t")
    np.testing.assert_allclose(Estimator.load(tmp_path / "t").predict(test).hi90_log10, t.hi90_log10, rtol=1e-9)


@pytest.fixture(scope="module")
def half_structured(split):
    """The training crystals with every other structure removed: a join where only some rows have one."""
    from bulkmod.data.records import Dataset

    train, test = split
    partial = [s if i % 2 else None for i, s in enumerate(train.structures)]
    ds = Dataset("half", train.ids, train.compositions, train.k_vrh, partial_structures=partial,
                 spacegroup=train.spacegroup)  # fmt: skip
    return ds, test


def test_a_model_trained_on_a_partial_join_predicts_rows_with_and_without_a_structure(half_structured, tmp_path):
    from bulkmod.data.records import Dataset
    from bulkmod.evaluation.evaluate import needs_structure

    train, test = half_structured
    model = build_model("lgbm", inner_folds=2, **FAST).fit(train, train.y_log10)
    assert model.features.missing_structures and model.features.needs_structure
    formula_only = Dataset("formulas", test.ids, test.compositions, test.k_vrh, spacegroup=test.spacegroup)
    with_s, without = model.predict(test), model.predict(formula_only)
    assert np.isfinite(with_s.mean_log10).all() and np.isfinite(without.mean_log10).all()
    assert not np.allclose(with_s.mean_log10, without.mean_log10)  # the structure features are used where present
    base = np.mean(np.abs(np.mean(train.y_log10) - test.y_log10))
    assert np.mean(np.abs(without.mean_log10 - test.y_log10)) < 0.8 * base
    model.save(tmp_path / "m")
    assert not needs_structure(tmp_path / "m")  # formula-only inputs stay with this model
    np.testing.assert_allclose(Estimator.load(tmp_path / "m").predict(formula_only).mean_log10, without.mean_log10)
    full = build_model("lgbm", **FAST).fit(test, test.y_log10)
    with pytest.raises(BulkmodError, match="need structures"):
        full.predict(formula_only)  # a model that never saw a missing structure refuses one


def test_stacked_composition_feature_is_chosen_on_inner_folds_and_round_trips(half_structured, tmp_path):
    train, test = half_structured
    model = build_model("lgbm", inner_folds=3, params={"learning_rate": 0.1, "stack": "auto"}).fit(train, train.y_log10)
    trials = model.train_info["selection"]
    assert [t["stack"] for t in trials] == [False, True]
    best = min(trials, key=lambda t: t["inner_mae_log10"])
    assert model.options.stack == best["stack"] and (model._stack is not None) == best["stack"]
    forced = build_model("lgbm", inner_folds=3, stack=True, **FAST).fit(train, train.y_log10)
    assert forced.config()["stack"] is True and forced._stack is not None
    pred = forced.predict(test)
    forced.save(tmp_path / "s")
    assert (tmp_path / "s" / "stack" / "manifest.json").is_file()
    again = Estimator.load(tmp_path / "s").predict(test)
    np.testing.assert_allclose(again.mean_log10, pred.mean_log10, rtol=1e-9)
    np.testing.assert_allclose(again.hi90_log10, pred.hi90_log10, rtol=1e-9)
    with pytest.raises(BulkmodError, match=r"option stack='maybe' must be False \| True \| 'auto'"):
        build_model("lgbm", params={"stack": "maybe"})


def test_structure_routed_model_sends_each_row_to_the_member_that_can_take_it(half_structured, tmp_path):
    from bulkmod.data.records import Dataset

    train, test = half_structured
    model = build_model("structure-routed", inner_folds=2, **FAST).fit(train, train.y_log10)
    structure, composition = model.members
    assert structure.train_info["n"] == int(train.structure_mask.sum()) and composition.train_info["n"] == len(train)
    mixed = Dataset("mixed", test.ids, test.compositions, test.k_vrh, spacegroup=test.spacegroup,
                    partial_structures=[s if i < 30 else None for i, s in enumerate(test.structures)])  # fmt: skip
    pred = model.predict(mixed)
    np.testing.assert_allclose(pred.mean_log10[:30], structure.predict(test.subset(range(30))).mean_log10)
    np.testing.assert_allclose(pred.hi90_log10[30:], composition.predict(mixed.subset(range(30, 60))).hi90_log10)
    model.save(tmp_path / "r")
    np.testing.assert_allclose(Estimator.load(tmp_path / "r").predict(mixed).mean_log10, pred.mean_log10)


def test_routed_structure_member_can_stack_the_composition_member_trained_on_every_row(half_structured, tmp_path):
    train, test = half_structured
    model = build_model("structure-routed", inner_folds=2, params={"learning_rate": 0.1, "stack": True})
    model.fit(train, train.y_log10)
    structure, composition = model.members
    assert structure._stack is composition and composition.train_info["n"] == len(train)
    pred = model.predict(test)
    column = composition.predict(test).mean_log10  # what the structure member reads as its last feature
    assert np.isfinite(pred.mean_log10).all() and np.isfinite(column).all()
    model.save(tmp_path / "rs")
    assert not (tmp_path / "rs" / "member_0" / "stack").exists()  # saved once, as member_1
    again = Estimator.load(tmp_path / "rs")
    assert again.config()["stack"] is True and again.members[0]._stack is again.members[1]
    from bulkmod.reports.card import write_model_card

    card = write_model_card(tmp_path / "rs").read_text()
    assert "member that predicts it" in card and "composition model's prediction (stacked)" in card
    with pytest.raises(BulkmodError, match=r"option stack='maybe' must be False \| True \| 'auto'"):
        build_model("structure-routed", params={"stack": "maybe"})
    np.testing.assert_allclose(again.predict(test).mean_log10, pred.mean_log10, rtol=1e-9)


def test_the_sigma_model_is_the_scale_provider_the_adaptive_interval_uses(split, check_scale_provider):
    train, test = split
    check_scale_provider(build_model("lgbm", inner_folds=3, **FAST).fit(train, train.y_log10), test)
    constant = build_model("lgbm", inner_folds=3, interval="constant", **FAST).fit(train, train.y_log10)
    assert constant.scale(test) is None
