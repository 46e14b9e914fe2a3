import numpy as np
import pytest

from bulkmod.models import Estimator, build_model
from bulkmod.prediction import predict_files
from bulkmod.uncertainty.domain import DescriptorDomain


@pytest.fixture(scope="module")
def model(mp_small):
    train = mp_small.subset(range(240))
    est = build_model("lgbm", params={"learning_rate": 0.1}).fit(train, train.y_log10)
    est.domain = DescriptorDomain.fit(train)
    return est


def test_training_like_crystals_are_in_domain(model, mp_small):
    held_out = model.domain.check(mp_small.subset(range(240, 300)))
    assert np.mean([r == "" for r in held_out]) >= 0.9
    own = model.domain.check(mp_small.subset(range(240)))
    assert np.mean([r != "" for r in own]) == pytest.approx(0.01, abs=0.011)  # the 99th-percentile distance


def test_predict_flags_a_crystal_with_extreme_descriptors(model, mp_small, tmp_path):
    normal = mp_small.structures[250]
    stretched = normal.copy()
    stretched.scale_lattice(normal.volume * 8)  # same chemistry, eight times the volume: no such solid in training
    paths = [tmp_path / "normal.cif", tmp_path / "stretched.cif"]
    normal.to(filename=str(paths[0]))
    stretched.to(filename=str(paths[1]))
    df = predict_files(paths, model)
    assert df["in_domain"].tolist()[0] == "yes"
    assert df["in_domain"].tolist()[1].startswith("no: extreme descriptor")
    assert np.isfinite(df["k_vrh_gpa"]).all()  # still predicted, just flagged


def test_domain_survives_save_and_load(model, mp_small, tmp_path):
    model.save(tmp_path / "m")
    again = Estimator.load(tmp_path / "m")
    test = mp_small.subset(range(240, 300))
    assert again.domain.check(test) == model.domain.check(test)
