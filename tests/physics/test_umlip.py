"""CHGNet end to end on real crystals: E–V moduli, cache, features, the zero-shot/hybrid/delta models, relaxation."""

from __future__ import annotations

import numpy as np
import pytest

from bulkmod.data.files import read_structure
from bulkmod.evaluation.benchmark import limit_rows
from bulkmod.features import FeatureConfig, featurize
from bulkmod.models import build_model
from bulkmod.models.base import Estimator
from bulkmod.physics import features as phys
from bulkmod.physics.potentials import get_potential
from bulkmod.prediction import predict_files
from bulkmod.reports.card import write_model_card

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def small(mp_binary):
    return limit_rows(mp_binary, 60)


def test_chgnet_moduli_of_known_crystals_and_cache(monkeypatch):
    structures = [read_structure(EXAMPLES / f) for f in ("Si.cif", "NaCl.cif", "MgO.cif")]
    res = phys.eos_results(structures)
    k = {s.composition.reduced_formula: r.k0_gpa for s, r in zip(structures, res, strict=True)}
    assert all(r.usable for r in res)
    # DFT-PBE: Si 88, NaCl 24, MgO 150 GPa; a universal potential lands within ~35 %
    assert 55 < k["Si"] < 120 and 15 < k["NaCl"] < 35 and 100 < k["MgO"] < 200
    pot = get_potential("chgnet")
    monkeypatch.setattr(pot, "energies", lambda s: (_ for _ in ()).throw(AssertionError("cache missed")))
    assert phys.eos_results(structures) == res


def test_physics_feature_groups(small):
    cfg = FeatureConfig(("magpie", "umlip-eos", "umlip-embed"))
    X, errors = featurize(small, cfg)
    assert not errors and X.shape == (len(small), len(cfg.names())) and len(cfg.names()) == 132 + 6 + 64
    eos = X[:, 132:138]
    usable = eos[:, 5] == 0
    assert usable.mean() > 0.8
    # the zero-shot K0 tracks DFT: rank correlation over real crystals
    rho = np.corrcoef(np.argsort(np.argsort(eos[usable, 0])), np.argsort(np.argsort(small.y_log10[usable])))[0, 1]
    assert rho > 0.6
    assert np.isfinite(X[:, 138:]).all() and X[:, 138:].std(axis=0).max() > 0


@pytest.mark.parametrize("key", ["umlip-eos", "umlip-delta", "umlip-blend"])
def test_umlip_models_fit_save_load_predict(small, key, tmp_path):
    train, test = small.subset(range(45)), small.subset(range(45, 60))
    model = build_model(key, inner_folds=3) if key != "umlip-eos" else build_model(key)
    model.fit(train, train.y_log10)
    pred = model.predict(test)
    ok = np.isfinite(pred.mean_log10)
    assert ok.mean() > 0.7 and len(pred.errors) == (~ok).sum()
    assert np.median(np.abs(pred.mean_log10[ok] - test.y_log10[ok])) < 0.3
    assert (pred.lo90_log10[ok] < pred.mean_log10[ok]).all()
    loaded = Estimator.load(model.save(tmp_path / key))
    np.testing.assert_allclose(loaded.predict(test).mean_log10, pred.mean_log10)
    if key == "umlip-blend":  # its card explains an interval it does not calibrate itself
        card = write_model_card(tmp_path / key).read_text()
        lines = {line.split("`")[1]: line for line in card.splitlines() if line.startswith("- `member_")}
        assert lines["member_0"].startswith("- `member_0`: `lgbm` on magpie") and "umlip" not in lines["member_0"]
        assert "mismatch, umlip-eos; adaptive conformal interval" in lines["member_1"]
    if key == "umlip-eos":
        assert "Universal potential: `chgnet`" in write_model_card(tmp_path / key).read_text()
        assert set(pred.extra) == {"k_prime", "v0_a3", "fit_flag"}
        assert all(pred.errors[i].startswith("E-V fit flagged") for i in pred.errors)


def test_predict_relax_and_extra_columns(small, tmp_path):
    model = build_model("umlip-eos").fit(small, small.y_log10)
    strained = read_structure(EXAMPLES / "Si.cif")
    strained.scale_lattice(strained.volume * 1.15)  # a badly built cell
    path = tmp_path / "Si_strained.cif"
    strained.to(filename=str(path))
    (tmp_path / "junk.cif").write_text("not a cif")
    df = predict_files([path, tmp_path / "junk.cif"], model, relax="chgnet")
    assert list(df.columns[-4:]) == ["relaxed", "k_prime", "v0_a3", "fit_flag"]
    assert df.loc[0, "relaxed"] == "converged" and df.loc[0, "fit_flag"] == "ok"
    # relaxed back onto the potential surface: its E–V minimum lies ~13 % below the strained input volume
    assert abs(df.loc[0, "v0_a3"] / read_structure(path).volume - 1) > 0.05
    assert df.loc[1, "error"] and np.isnan(df.loc[1, "k_vrh_gpa"])


def test_cli_zero_shot_shipped_model_and_params(tmp_path):
    from bulkmod.cli import main

    out = tmp_path / "k.csv"
    assert (
        main(["predict", str(EXAMPLES / "Si.cif"), "--model", "CHGNetEOS-MPBinary2025-v1-KVRH", "--out", str(out)]) == 0
    )
    row = __import__("pandas").read_csv(out).iloc[0]
    assert row["fit_flag"] == "ok" and 55 < row["k_vrh_gpa"] < 120 and 2 < row["k_prime"] < 8
    # a zero-shot model takes no training options, only --param (here: a plain scan, no re-centring)
    res = tmp_path / "r.json"
    args = ["benchmark", "--dataset", "mp-binary-2025", "--model", "umlip-eos", "--limit", "60", "--folds", "2"]
    assert main([*args, "--param", "max_recentre=0", "--out", str(res)]) == 0
    assert __import__("json").loads(res.read_text())["model_config"]["params"] == {"max_recentre": 0}


def test_sevennet_gives_a_modulus_and_no_embedding():
    from bulkmod.errors import BulkmodError

    si = read_structure(EXAMPLES / "Si.cif")
    (res,) = phys.eos_results([si], potential="sevennet")
    assert res.usable and 60 < res.k0_gpa < 120  # PBE 88 GPa
    with pytest.raises(BulkmodError, match="no crystal embedding"):
        phys.embedding_features([si], potential="sevennet")


@pytest.mark.parametrize("kind", ["offset", "linear", "isotonic"])
def test_umlip_eos_calibration_is_fitted_on_training_rows_and_saved(small, kind, tmp_path):
    train, test = small.subset(range(45)), small.subset(range(45, 60))
    raw = build_model("umlip-eos").fit(train, train.y_log10)
    cal = build_model("umlip-eos", params={"calibration": kind}).fit(train, train.y_log10)
    assert raw.calibration_map is None and cal.calibration_map  # zero-shot stays uncalibrated unless asked
    p_raw, p_cal = raw.predict(test), cal.predict(test)
    ok = np.isfinite(p_raw.mean_log10)
    if kind == "offset":  # the potential's softening is a shift of log10 K: removed on unseen crystals
        bias = lambda p: np.median(p.mean_log10[ok] - test.y_log10[ok])  # noqa: E731
        assert abs(bias(p_cal)) < abs(bias(p_raw))
    order = np.argsort(p_raw.mean_log10[ok])
    assert (np.diff(p_cal.mean_log10[ok][order]) >= -1e-12).all()  # every map is monotone: ranking kept
    loaded = Estimator.load(cal.save(tmp_path / kind))
    np.testing.assert_allclose(loaded.predict(test).mean_log10, p_cal.mean_log10)
    assert Estimator.load(raw.save(tmp_path / "raw")).options.calibration == "none"
