"""The torch port of the original pretrained MEGNet: golden values from the original runtime, refusals, untrusted
weights files, the offline fetch-with-checksum path and the zero-shot registry model."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from bulkmod.cli import main
from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.io import shared_data_dir
from bulkmod.models import MODELS, build_model
from bulkmod.models.gnn import MEGNET_LEAK_NOTE
from bulkmod.models.gnn import megnet_port as mp
from bulkmod.models.pretrained import MEGNET_MODEL, PRETRAINED_DIR, load_model, resolve_model_dir


def _shared_folder() -> Path | None:
    try:
        folder = shared_data_dir() / mp.SHARED_FOLDER
    except BulkmodError:
        return None
    return folder if folder.is_dir() else None


SHARED = _shared_folder()
pytestmark = pytest.mark.skipif(SHARED is None, reason="shared data (../shared/data/megnet-pretrained) not found")
TOL = 1e-3  # log10 K, against the original runtime
GOLDEN_ROWS = 6  # reference rows per dataset


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(SHARED / "reference_predictions.csv", dtype={"id": str})


def _rows(ds: Dataset, ids: list[str]) -> Dataset:
    position = {str(i): k for k, i in enumerate(ds.ids)}
    return ds.subset([position[i] for i in ids])


def _dataset(name: str, structures: list[Structure]) -> Dataset:
    ids = np.array([f"{name}-{i}" for i in range(len(structures))])
    return Dataset(name, ids, [s.composition for s in structures], np.full(len(ids), np.nan), structures=structures)


def _no_bond() -> Structure:
    """One atom in a 5 A cube: its nearest neighbour (its own image) is beyond MEGNet's 4 A cut-off."""
    return Structure(Lattice.cubic(5.0), ["Na"], [[0, 0, 0]])


def _one_atom_without_bond() -> Structure:
    """A bonded Na2 pair in a 10 A cube and one Cl atom 7+ A from everything."""
    return Structure(Lattice.cubic(10.0), ["Na", "Na", "Cl"], [[0, 0, 0], [2.2, 0, 0], [5, 5, 5]],
                     coords_are_cartesian=True)  # fmt: skip


@pytest.mark.parametrize("version", list(mp.VERSIONS))
def test_golden_values_match_the_original_runtime(reference, mp_binary, version):
    """A few rows of each dataset predicted by megnet 1.3.2 itself (the references are every 8th / 6th row)."""
    from bulkmod.data import load_dataset

    model = build_model("megnet-pretrained", params={"version": version})
    for name, ds in (("mp-binary-2025", mp_binary), ("elastic-2015", load_dataset("elastic-2015"))):
        rows = reference[(reference.dataset == name) & reference[f"pred_log10_{version}"].notna()].head(GOLDEN_ROWS)
        pred = model.predict(_rows(ds, rows["id"].tolist()))
        assert not pred.errors
        np.testing.assert_allclose(pred.mean_log10, rows[f"pred_log10_{version}"], atol=TOL, rtol=0)


def test_crystals_the_original_refused_get_an_error_naming_them(reference, mp_binary):
    refused = reference[reference["pred_log10_mp-2019.4.1"].isna()]["id"].tolist()
    assert len(refused) == 3
    pred = build_model("megnet-pretrained").predict(_rows(mp_binary, refused))
    assert np.isnan(pred.mean_log10).all()
    for i, name in enumerate(refused):
        assert pred.errors[i].startswith(f"{name}: no two atoms within MEGNet's 4 A cut-off")


def test_no_bond_raises_and_an_atom_without_bond_is_predicted_and_counted():
    """The original raised only when the whole graph had no bond; an atom without one only made it log a warning
    (it predicted mp-1013546, whose Sb has no neighbour within 4 A), so the port predicts and reports the count."""
    _, spec = mp.load_pretrained()
    with pytest.raises(BulkmodError, match=r"^lonely-Na: no two atoms within MEGNet's 4 A cut-off"):
        mp.crystal_graph(_no_bond(), "lonely-Na", spec)
    pred = build_model("megnet-pretrained").predict(_dataset("x", [_one_atom_without_bond(), _no_bond()]))
    assert np.isfinite(pred.mean_log10[0]) and list(pred.errors) == [1]
    assert pred.extra["atoms_without_bond"].tolist() == [1, 0]


def test_elements_beyond_the_embedding_and_disorder_are_refused():
    _, spec = mp.load_pretrained()
    with pytest.raises(BulkmodError, match=r"^am: .*stops at Pu \(Z = 94\), not Am"):
        mp.crystal_graph(Structure(Lattice.cubic(3.0), ["Am"], [[0, 0, 0]]), "am", spec)
    with pytest.raises(BulkmodError, match=r"^alloy: disordered sites"):
        mp.crystal_graph(Structure(Lattice.cubic(3.0), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]]), "alloy", spec)


def _corrupt_copy(tmp_path: Path, edit) -> Path:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "log10K.hdf5"
    shutil.copy(SHARED / "mp-2019.4.1_log10K.hdf5", path)
    path.chmod(0o644)
    with h5py.File(path, "r+") as f:
        edit(f["model_weights"])
    return path


def test_a_weight_of_the_wrong_shape_is_refused(tmp_path):
    def reshape(root):
        del root["dense_3/dense_3/kernel:0"]
        root.create_dataset("dense_3/dense_3/kernel:0", data=np.zeros((99, 64), np.float32))

    with pytest.raises(BulkmodError, match=r"dense_3/kernel:0 is float32 \(99, 64\); .* needs float \(100, 64\)"):
        mp.load_keras_weights(mp.PretrainedMEGNet(), _corrupt_copy(tmp_path, reshape))


def test_missing_or_extra_layers_and_non_finite_weights_are_refused(tmp_path):
    def drop_layer(root):
        del root["set2_set_2"]

    with pytest.raises(BulkmodError, match="layers missing: set2_set_2"):
        mp.load_keras_weights(mp.PretrainedMEGNet(), _corrupt_copy(tmp_path / "a", drop_layer))

    def poison(root):
        root["dense_21/dense_21/bias:0"][0] = np.nan

    with pytest.raises(BulkmodError, match="dense_21/bias:0 holds non-finite values"):
        mp.load_keras_weights(mp.PretrainedMEGNet(), _corrupt_copy(tmp_path / "b", poison))
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(BulkmodError, match="not a readable HDF5 file"):
        mp.load_keras_weights(mp.PretrainedMEGNet(), junk)


@pytest.fixture
def no_shared_copy(tmp_path, monkeypatch) -> Path:
    """Upstream served from a local folder (file://), no shared copy, an empty cache: the fetch path, offline."""
    upstream = tmp_path / "upstream"
    for version in mp.VERSIONS:
        (upstream / version).mkdir(parents=True)
        for suffix in ("hdf5", "hdf5.json"):
            shutil.copy(SHARED / f"{version}_log10K.{suffix}", upstream / version / f"log10K.{suffix}")
    (tmp_path / "no-data").mkdir()
    monkeypatch.setattr(mp, "UPSTREAM", upstream.as_uri())
    monkeypatch.setenv("BULKMOD_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path / "cache"))
    return upstream


def test_weights_come_from_the_shared_copy_without_fetching(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("fetched although the shared copy has the pinned hash")

    monkeypatch.setattr(mp, "fetch", refuse)
    assert mp.weights_files("mp-2018.6.1") == (SHARED / "mp-2018.6.1_log10K.hdf5",
                                               SHARED / "mp-2018.6.1_log10K.hdf5.json")  # fmt: skip


def test_fetch_into_the_cache_checks_the_sha256(no_shared_copy, tmp_path):
    with pytest.raises(BulkmodError, match="downloading is off"):
        mp.weights_files("mp-2019.4.1", allow_download=False)
    hdf5, converter = mp.weights_files("mp-2019.4.1")
    assert (
        hdf5.parent == tmp_path / "cache" / "downloads" / "megnet"
        and hdf5.read_bytes() == (SHARED / "mp-2019.4.1_log10K.hdf5").read_bytes()
    )
    assert mp.weights_files("mp-2019.4.1", allow_download=False) == (hdf5, converter)  # cached now
    tampered = no_shared_copy / "mp-2018.6.1" / "log10K.hdf5"
    data = bytearray(tampered.read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(BulkmodError, match="downloaded file has sha256"):
        mp.weights_files("mp-2018.6.1")
    assert not (tmp_path / "cache" / "downloads" / "megnet" / "mp-2018.6.1_log10K.hdf5").exists()


def test_the_registry_model_predicts_without_training(mp_small):
    """Zero-shot: predict on a fresh model, fit changes nothing, every result and card carries the leak note."""
    ds = mp_small.subset(range(5))
    model = build_model("megnet-pretrained")
    first = model.predict(ds).mean_log10
    assert np.isfinite(first).all() and MODELS["megnet-pretrained"].family == "zero-shot"
    np.testing.assert_array_equal(model.fit(ds, ds.y_log10 + 1.0).predict(ds).mean_log10, first)
    assert MODELS["megnet-pretrained"].note == MEGNET_LEAK_NOTE == model.train_info["note"]
    older = build_model("megnet-pretrained", params={"version": "mp-2018.6.1"}).predict(ds).mean_log10
    assert np.isfinite(older).all() and not np.allclose(older, first)
    with pytest.raises(BulkmodError, match=r"option version='mp-2020' must be 'mp-2019\.4\.1'"):
        build_model("megnet-pretrained", params={"version": "mp-2020"})
    with pytest.raises(BulkmodError, match="does not take that option: epochs=3"):
        build_model("megnet-pretrained", params={"epochs": 3})


def test_shipped_models_resolve_and_say_what_they_learned_from(capsys):
    assert resolve_model_dir("megnet-pretrained") == PRETRAINED_DIR / MEGNET_MODEL
    for name in (MEGNET_MODEL, "MEGNet-MP2018-v1-KVRH"):
        assert MEGNET_LEAK_NOTE in (PRETRAINED_DIR / name / "README.md").read_text()
    assert load_model("MEGNet-MP2018-v1-KVRH").options.version == "mp-2018.6.1"
    examples = Path(__file__).resolve().parents[2] / "examples"
    assert main(["predict", "--model", "megnet-pretrained", str(examples / "NaCl.cif")]) == 0
    captured = capsys.readouterr()
    assert "NaCl" in captured.out and f"note: {MEGNET_LEAK_NOTE}" in captured.err


def test_megnet_fine_tunes_from_the_published_weights(mp_small, tmp_path):
    """``megnet --param pretrained=VERSION`` starts from the port itself: the untrained start predicts what the
    zero-shot model predicts, training moves it, the fitted model round-trips through save/load, crystals with no
    MEGNet graph are left out of training by name, and settings the published network cannot take are refused."""
    from bulkmod.models.base import Estimator

    part = mp_small.subset(range(24))
    structures = [*part.structures, _no_bond()]
    ids = np.array([*map(str, part.ids), "lonely-Na"])
    y = np.append(part.y_log10, 1.5)
    train = Dataset("train", ids, [s.composition for s in structures], y, structures=structures)
    probe = mp_small.subset(range(30, 36))
    model = build_model("megnet", epochs=1, params={"pretrained": "mp-2019.4.1"})
    model.net = model._build_net()
    model._maybe_pretrained()
    model.net.eval()
    zero_shot = build_model("megnet-pretrained").predict(probe).mean_log10
    np.testing.assert_allclose(model._forward(model._data(probe)[0])[0], zero_shot, atol=1e-6)

    model = build_model("megnet", epochs=2, lr=1e-3, params={"pretrained": "mp-2019.4.1"})
    model.fit(train, train.y_log10)
    assert model.train_info["note"] == MEGNET_LEAK_NOTE and model.transform.mean == 0.0
    assert list(model.train_info["excluded"]) == ["lonely-Na"]
    tuned = model.predict(probe)
    assert np.isfinite(tuned.mean_log10).all() and not np.allclose(tuned.mean_log10, zero_shot, atol=1e-4)
    loaded = Estimator.load(model.save(tmp_path / "tuned"))
    np.testing.assert_array_equal(loaded.predict(probe).mean_log10, tuned.mean_log10)
    refused = model.predict(_dataset("x", [_no_bond()]))
    assert list(refused.errors) == [0] and "no two atoms within MEGNet's 4 A" in refused.errors[0]

    with pytest.raises(BulkmodError, match=r"published network and graph are fixed; drop n_blocks="):
        build_model("megnet", params={"pretrained": "mp-2019.4.1", "n_blocks": 2})
    with pytest.raises(BulkmodError, match="use the log10 target"):
        build_model("megnet", transform={"space": "gpa"}, params={"pretrained": "mp-2019.4.1"})
    with pytest.raises(BulkmodError, match="unknown MEGNet version 'mp-2020'"):
        build_model("megnet", params={"pretrained": "mp-2020"})
