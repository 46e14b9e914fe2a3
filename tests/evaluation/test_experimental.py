import numpy as np
import pytest
from pymatgen.core import Composition

from bulkmod.evaluation.experimental import evaluate_experimental, loo_correction, material_class
from bulkmod.models.pretrained import COMPOSITION_MODEL, PRETRAINED_DIR


@pytest.mark.parametrize(
    "formula, cls",
    [
        ("Rh", "metal"),
        ("Kr", "van der Waals"),
        ("NaF", "ionic"),
        ("ZrO2", "ionic"),
        ("BP", "covalent"),
        ("Si", "covalent"),
    ],
)
def test_material_class(formula, cls):
    assert material_class(Composition(formula)) == cls


def test_loo_correction_learns_a_systematic_underestimate():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.5, 2.5, 30)
    pred = y - 0.04 + rng.normal(0, 0.01, 30)  # a PBE-like 9 % underestimate
    corrected, info = loo_correction(pred, y)
    assert np.mean(np.abs(corrected - y)) < 0.5 * np.mean(np.abs(pred - y))
    assert info["a"] == pytest.approx(0.04, abs=0.01) and info["n_fit"] == 30
    assert info["interval90_halfwidth_log10"] >= np.quantile(np.abs(corrected - y), 0.85)


def test_class_offsets_capture_class_specific_errors():
    rng = np.random.default_rng(1)
    y = rng.uniform(1.0, 2.5, 40)
    classes = np.array(["metal", "ionic"] * 20)
    pred = y - np.where(classes == "ionic", 0.05, 0.0) + rng.normal(0, 0.005, 40)
    _, global_info = loo_correction(pred, y)
    _, info = loo_correction(pred, y, classes)
    assert info["loo_mae_log10"] < 0.5 * global_info["loo_mae_log10"]
    assert info["class_offsets"]["ionic"] > info["class_offsets"]["metal"]


@pytest.mark.skipif(not (PRETRAINED_DIR / COMPOSITION_MODEL).exists(), reason="composition model not built")
def test_expt_jarvis_flags_noble_gases_and_scores_the_rest(tmp_path):
    res = evaluate_experimental("default", "expt-jarvis", correct=True, out=tmp_path / "e.json")
    assert res["path"].startswith("composition")
    assert {r["formula"] for r in res["out_of_domain"]} == {"Ar", "Kr", "Xe"}
    assert res["n"] == 27 - 3 and res["n_rejected_input"] == 5
    assert {r["material_class"] for r in res["per_class_corrected"]} >= {"all", "metal", "ionic"}
    assert res["correction"]["loo_mae_log10"] == pytest.approx(res["mae_log10"])
    assert set(res["correction"]["class_offsets"]) == {"metal", "ionic"}
    assert res["correction_global_only"]["class_offsets"] == {}
