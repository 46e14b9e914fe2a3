"""Graph models on ~80 real crystals: the invariances the issue requires, save/load, legacy checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.evaluation.diagnose import diagnose, model_causes
from bulkmod.models import MODELS, Estimator, build_model

LEGACY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cgcnn-pretrained" / "bulk-moduli.pth.tar"
TINY = {
    "cgcnn": {"atom_fea_len": 16, "h_fea_len": 16},
    "cgcnn-deep": {"n_conv": 2, "hidden": 16, "head_hidden": 16},
    "schnet": {"hidden": 16, "n_filters": 16, "n_interactions": 2},
    "megnet": {"hidden": 16, "n_blocks": 2},
    "hybrid": {"n_conv": 2, "hidden": 16, "head_hidden": 16},
}


def _like(ds: Dataset, structures: list[Structure]) -> Dataset:
    """A prediction input built from bare structures (no targets)."""
    n = len(structures)
    return Dataset(
        "input",
        [str(i) for i in range(n)],
        [s.composition for s in structures],
        np.full(n, np.nan),
        structures=structures,
    )


@pytest.fixture(scope="module")
def train_set(mp_small) -> Dataset:
    return mp_small.subset(range(80))


@pytest.fixture(scope="module")
def probe(mp_small) -> list[Structure]:
    """Crystals never seen in training, with more than one site so permutations mean something."""
    return [s for s in mp_small.structures[200:] if 2 <= len(s) <= 8][:4]


@pytest.fixture(scope="module", params=list(TINY))
def fitted(request, train_set):
    torch.set_num_threads(1)
    key = request.param
    model = build_model(key, epochs=2, batch_size=16, params=TINY[key])
    return model.fit(train_set, train_set.y_log10)


def test_registry_families():
    assert {k: MODELS[k].family for k in TINY} == {
        "cgcnn": "graph",
        "cgcnn-deep": "graph",
        "schnet": "graph",
        "megnet": "graph",
        "hybrid": "hybrid",
    }


def test_site_permutation_and_supercell_invariance(fitted, probe):
    s = probe[0]
    perm = np.random.default_rng(1).permutation(len(s))
    shuffled = Structure.from_sites([s[i] for i in perm])
    big = s.copy()
    big.make_supercell([2, 2, 2])
    pred = fitted.predict(_like(None, [s, shuffled, big])).mean_log10
    assert np.all(np.isfinite(pred))
    assert abs(pred[1] - pred[0]) < 1e-5
    assert abs(pred[2] - pred[0]) < 1e-4  # the criterion: 2x2x2 supercell, same K within 1e-4 log10


def test_prediction_does_not_depend_on_the_batch(fitted, probe):
    alone = [fitted.predict(_like(None, [s])).mean_log10[0] for s in probe]
    together = fitted.predict(_like(None, probe)).mean_log10
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_save_load_roundtrip(fitted, probe, tmp_path):
    ds = _like(None, probe)
    before = fitted.predict(ds)
    path = fitted.save(tmp_path / fitted.key)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["model"] == fitted.key and "weights.safetensors" in manifest["weights"]
    assert manifest["config"]["transform"]["n_fit"] == manifest["train"]["n_train"]
    log = pd.read_csv(path / "train_log.csv")
    assert list(log.columns) == ["epoch", "lr", "train_loss", "val_mae", "val_spread"] and len(log) == 2
    after = Estimator.load(path).predict(ds)
    np.testing.assert_array_equal(before.mean_log10, after.mean_log10)
    np.testing.assert_array_equal(before.lo90_log10, after.lo90_log10)


def test_raw_gpa_model_is_named_by_diagnose(train_set, tmp_path):
    model = build_model(
        "cgcnn", transform={"space": "gpa", "standardize": False}, loss="mse", epochs=1, params=TINY["cgcnn"]
    ).fit(train_set, train_set.y_log10)
    causes = " ".join(model_causes(model.save(tmp_path / "raw")))
    assert "raw GPa with no normalisation" in causes and "MSE on raw GPa" in causes


def test_original_sgd_on_raw_gpa_collapses_and_diagnose_names_it(mp_small, train_set, tmp_path):
    """The original failure in miniature: CGCNN's SGD defaults on raw GPa give one constant prediction."""
    torch.set_num_threads(1)
    test = mp_small.subset(range(200, 260))
    sgd = {"lr": 0.01, "epochs": 20, "batch_size": 16, "params": {"optimizer": "sgd", "momentum": 0.9}}
    raw = build_model("cgcnn", transform={"space": "gpa", "standardize": False}, loss="mse", **sgd)
    raw.fit(train_set, train_set.y_log10)
    res = diagnose(10**test.y_log10, 10 ** raw.predict(test).mean_log10, model_dir=raw.save(tmp_path / "raw"))
    assert res["verdict"] == "collapsed" and res["evidence"]["spread_ratio_gpa"] < 0.3
    assert any(c.startswith("SGD (lr 0.01, momentum 0.9) on a target in raw GPa") for c in res["causes"])
    # the same optimiser on a standardised log10 target learns
    fixed = build_model("cgcnn", transform={"space": "log10", "standardize": True}, loss="mse", **sgd)
    fixed.fit(train_set, train_set.y_log10)
    res = diagnose(10**test.y_log10, 10 ** fixed.predict(test).mean_log10, model_dir=fixed.save(tmp_path / "fixed"))
    assert res["verdict"] != "collapsed" and not any("SGD" in c for c in res["model_causes"])


def test_unpredictable_rows_are_reported_not_crashed(fitted, probe):
    lonely = Structure(Lattice.cubic(40.0), ["Na"], [[0, 0, 0]])
    pred = fitted.predict(_like(None, [probe[0], lonely]))
    assert np.isfinite(pred.mean_log10[0]) and np.isnan(pred.mean_log10[1])
    assert "no neighbour" in pred.errors[1]


def test_user_errors(train_set):
    with pytest.raises(BulkmodError, match=r"'schnet' does not take that option: n_layers_typo=3 .*n_interactions"):
        build_model("schnet", params={"n_layers_typo": 3}, epochs=1)  # refused before any training
    with pytest.raises(BulkmodError, match="n_conv"):
        build_model("cgcnn-deep", params={"n_conv": 12}, epochs=1).fit(train_set, train_set.y_log10)
    no_structures = Dataset("comp", train_set.ids, train_set.compositions, train_set.k_vrh)
    with pytest.raises(BulkmodError, match="need crystal structures"):
        build_model("cgcnn", epochs=1).fit(no_structures, no_structures.y_log10)
    with pytest.raises(
        BulkmodError,
        match=r"pretrained= is for cgcnn \(a legacy checkpoint\) and megnet \(a MEGNet version\), not schnet",
    ):
        build_model("schnet", params={"pretrained": str(LEGACY)}, epochs=1).fit(train_set, train_set.y_log10)


@pytest.mark.skipif(not LEGACY.exists(), reason="legacy CGCNN checkpoint not available")
def test_legacy_checkpoint_fine_tunes_with_explicit_report(train_set):
    model = build_model("cgcnn", epochs=1, params={"pretrained": str(LEGACY), "n_conv": 4, "h_fea_len": 32})
    model.fit(train_set, train_set.y_log10)
    report = model.train_info["pretrained"]
    assert set(report["skipped"]) == {"embedding.weight", "embedding.bias"}
    assert "92-dim" in report["skipped"]["embedding.weight"]
    assert report["loaded"] == 4 * 10 + 4  # 4 conv layers (fc_full, bn1, bn2 tensors) + conv_to_fc + fc_out
    assert model.transform.mean == pytest.approx(report["normalizer"]["mean"])
    # the original architecture (n_conv=3, h_fea_len=128) takes the convolutions, skips the rest by shape
    report = build_model("cgcnn", epochs=1, params={"pretrained": str(LEGACY)}).fit(train_set, train_set.y_log10)
    skipped = report.train_info["pretrained"]["skipped"]
    assert "convs.3.fc_full.weight" in skipped and "shape" in skipped["conv_to_fc.weight"]


def test_mc_dropout_gives_calibrated_spread_and_round_trips(train_set, mp_small, tmp_path, check_scale_provider):
    torch.set_num_threads(1)
    model = build_model("mc-dropout", epochs=3, batch_size=16, params=TINY["hybrid"] | {"mc_samples": 8})
    model.fit(train_set, train_set.y_log10)
    test = mp_small.subset(range(200, 240))
    pred = model.predict(test)
    assert model.conformal.normalized and model.options.mc_samples == 8
    width = pred.hi90_log10 - pred.lo90_log10
    assert np.all(width > 0) and width.std() > 0.05 * width.mean()  # dropout spread differs per crystal
    again = model.predict(test)  # seeded passes: the same interval on every call
    np.testing.assert_allclose(again.hi90_log10, pred.hi90_log10)
    check_scale_provider(model, test)
    model.save(tmp_path / "mc")
    loaded = Estimator.load(tmp_path / "mc")
    np.testing.assert_allclose(loaded.predict(test).hi90_log10, pred.hi90_log10, rtol=1e-5)
    plain = build_model(
        "hybrid", epochs=1, batch_size=16, params=TINY["hybrid"] | {"head_dropout": 0.0, "mc_samples": 4}
    )
    with pytest.raises(BulkmodError, match="dropout"):
        plain.fit(train_set, train_set.y_log10)


def test_last_layer_laplace_scales_the_interval_and_round_trips(train_set, mp_small, tmp_path, check_scale_provider):
    torch.set_num_threads(1)
    model = build_model("hybrid", epochs=3, batch_size=16, params=TINY["hybrid"] | {"laplace": True})
    model.fit(train_set, train_set.y_log10)
    test = mp_small.subset(range(200, 240))
    pred = model.predict(test)
    assert model.conformal.normalized and pred.std_log10 is not None
    noise_floor = np.sqrt(model._laplace.noise_var) * model.transform.std
    assert np.all(pred.std_log10 >= noise_floor - 1e-12) and pred.std_log10.std() > 0  # weight uncertainty varies
    check_scale_provider(model, test)
    folder = model.save(tmp_path / "laplace")
    loaded = Estimator.load(folder)
    np.testing.assert_allclose(loaded.predict(test).hi90_log10, pred.hi90_log10, rtol=1e-5)
    # a crafted posterior of another shape (hashes updated, as its author would) is refused on load
    import hashlib
    import json

    from safetensors.numpy import save_file

    crafted = folder / "laplace.safetensors"
    save_file({"laplace_covariance": np.eye(3), "laplace_scalars": np.ones(2)}, str(crafted))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["weights"]["laplace.safetensors"] = hashlib.sha256(crafted.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BulkmodError, match=r"laplace_covariance.*has w=3"):
        Estimator.load(folder)
    with pytest.raises(BulkmodError, match="laplace needs"):
        build_model("hybrid", params={"laplace": True, "mc_samples": 5})


def test_laplace_posterior_matches_bayesian_linear_regression():
    """On a linear model the last-layer Laplace is exact: its variance is the textbook posterior's."""
    from bulkmod.uncertainty.laplace import LastLayerLaplace

    rng = np.random.default_rng(0)
    phi = rng.normal(size=(200, 3))
    w = np.array([0.5, -1.0, 2.0, 0.1])
    y = phi @ w[:3] + w[3] + rng.normal(0, 0.3, 200)
    X = np.hstack([phi, np.ones((200, 1))])
    w_map = np.linalg.lstsq(X, y, rcond=None)[0]
    lap = LastLayerLaplace.fit(phi, X @ w_map - y, w_map)
    cov = np.linalg.inv(X.T @ X / lap.noise_var + lap.prior_precision * np.eye(4))
    probe = rng.normal(size=(5, 3))
    Xp = np.hstack([probe, np.ones((5, 1))])
    expected = np.sqrt(np.einsum("nd,de,ne->n", Xp, cov, Xp) + lap.noise_var)
    np.testing.assert_allclose(lap.std(probe), expected)
    assert lap.noise_var == pytest.approx(0.09, rel=0.25)
    far = lap.std(probe * 100)  # far from the training features: the weight term dominates
    assert np.all(far > lap.std(probe))


def test_cgcnn_quick_fix_switches_change_only_what_they_name(mp_small):
    """dropout and residual=False (the original project's quick fix and its ablation) leave the default network
    the original one: same parameters, deterministic in eval mode, and a skip that really is dropped."""
    from torch_geometric.data import Batch

    from bulkmod.graphs import GraphConfig, build_graphs, to_data
    from bulkmod.models.gnn.nets import CGCNN

    cfg = GraphConfig()
    graphs = [to_data(g, cfg) for g in build_graphs(mp_small.structures[:6], cfg, cache=False)[0]]
    batch = Batch.from_data_list(graphs)
    dims = graphs[0].x.shape[1], graphs[0].edge_attr.shape[1]
    torch.manual_seed(0)
    plain = CGCNN(*dims, n_conv=2, atom_fea_len=8, h_fea_len=8)
    variants = {
        "dropout": CGCNN(*dims, n_conv=2, atom_fea_len=8, h_fea_len=8, dropout=0.5),
        "no-skip": CGCNN(*dims, n_conv=2, atom_fea_len=8, h_fea_len=8, residual=False),
    }
    for net in variants.values():
        assert net.state_dict().keys() == plain.state_dict().keys()
        net.load_state_dict(plain.state_dict())
    for net in (plain, *variants.values()):
        net.eval()
    with torch.no_grad():
        base = plain(batch)
        assert torch.equal(variants["dropout"](batch), base)  # dropout is off in eval mode
        assert not torch.allclose(variants["no-skip"](batch), base)
        variants["dropout"].train()
        assert not torch.equal(variants["dropout"](batch), variants["dropout"](batch))
