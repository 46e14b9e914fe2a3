import json

import numpy as np
import pytest

from bulkmod.errors import BulkmodError
from bulkmod.features import featurize
from bulkmod.models import Estimator, build_model


@pytest.fixture(scope="module")
def fitted(mp_split):
    train, _ = mp_split
    return build_model("gpr", params={"hp_rows": 200, "hp_iter": 15}, inner_folds=3).fit(train, train.y_log10)


def test_gp_learns_kernel_and_gives_calibrated_varying_intervals(fitted, mp_split):
    train, test = mp_split
    pred = fitted.predict(test)
    mae = np.mean(np.abs(pred.mean_log10 - test.y_log10))
    base = np.mean(np.abs(np.mean(train.y_log10) - test.y_log10))
    assert mae < 0.7 * base, (mae, base)
    assert fitted.conformal.normalized and fitted.conformal.n_calibration == len(train)
    assert "Matern" in fitted.train_info["kernel"] and fitted.train_info["hp_rows"] == 200
    width = pred.hi90_log10 - pred.lo90_log10
    assert np.all(width > 0) and width.std() > 0.05 * width.mean()
    np.testing.assert_allclose(pred.std_log10 * 2 * 1.6448536, width, rtol=1e-6)
    cover = np.mean((test.y_log10 >= pred.lo90_log10) & (test.y_log10 <= pred.hi90_log10))
    assert cover > 0.7


def test_gp_round_trips_without_pickle(fitted, mp_split, tmp_path):
    _, test = mp_split
    fitted.save(tmp_path / "gp")
    names = sorted(p.name for p in (tmp_path / "gp").iterdir())
    assert names == ["gp.safetensors", "manifest.json"]
    manifest = json.loads((tmp_path / "gp" / "manifest.json").read_text())
    assert manifest["model"] == "gpr" and manifest["family"] == "gp"
    again = Estimator.load(tmp_path / "gp").predict(test)
    ref = fitted.predict(test)
    np.testing.assert_allclose(again.mean_log10, ref.mean_log10, rtol=1e-7)
    np.testing.assert_allclose(again.hi90_log10, ref.hi90_log10, rtol=1e-7)


def test_gp_rejects_unknown_params():
    with pytest.raises(BulkmodError, match="does not take that option: lenght=3"):
        build_model("gpr", params={"lenght": 3})


def test_descriptors_beyond_the_training_range_are_clamped_to_its_edge(fitted, mp_split, monkeypatch):
    """Out of domain the kernel sees the training range's edge, not a point so far away that the GP
    reverts to its prior mean (what ternary crystals did after binary training)."""
    import bulkmod.models.gp as gp

    _, test = mp_split
    X, _ = featurize(test, fitted.features)
    j = int(np.argmin(fitted._w["length_scale"]))  # the descriptor the kernel is most sensitive to
    w = fitted._w
    edge, far = X.copy(), X.copy()
    edge[:, j] = w["x_mean"][j] + w["z_hi"][j] * w["x_std"][j]  # the training maximum
    far[:, j] = edge[:, j] + 50 * w["x_std"][j]

    def predict(matrix):
        monkeypatch.setattr(gp, "featurize", lambda ds, cfg: (matrix, {}))
        return fitted.predict(test)

    at_edge, beyond = predict(edge), predict(far)
    np.testing.assert_allclose(beyond.mean_log10, at_edge.mean_log10, rtol=1e-9)
    monkeypatch.setattr(fitted, "options", fitted.options.replace(clip=False))
    unclamped = predict(far)
    prior = fitted.transform.inverse(np.zeros(1))[0]  # the GP's prior mean, in log10 GPa
    assert np.mean(np.abs(unclamped.mean_log10 - prior)) < np.mean(np.abs(beyond.mean_log10 - prior))
    assert np.median(unclamped.std_log10) > np.median(beyond.std_log10)


def test_the_gp_scale_is_the_one_its_interval_uses(fitted, mp_split, check_scale_provider):
    check_scale_provider(fitted, mp_split[1])
