"""Golden values: every shipped model's K for the example crystals, to 0.1 %.

A dependency bump that changes what a shipped model predicts (LightGBM's text reader, pymatgen's neighbour
lists or symmetry finder, CHGNet's or SevenNet's weights or graph code) fails here instead of reaching users.
When a change is intended, rerun the model on ``examples/`` and update the numbers in the same commit, saying why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bulkmod
from bulkmod.models.pretrained import list_pretrained

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GOLDEN: dict[str, dict[str, float]] = {  # K_VRH in GPa per example file
    "CHGNetEOS-MPBinary2025-v1-KVRH": {"Al.extxyz": 54.3656, "Cu.cif": 154.1565, "MgO.cif": 124.4093,
                                       "NaCl.cif": 23.9596, "POSCAR_GaAs": 31.81, "Si.cif": 83.0332},
    "LGBM-MPBinary2025-v2-KVRH": {"Al.extxyz": 78.3165, "Cu.cif": 132.4883, "MgO.cif": 155.9327,
                                  "NaCl.cif": 24.8526, "POSCAR_GaAs": 63.5237, "Si.cif": 111.3042},
    "LGBMCHGNetBlend-MPBinary2025-v1-KVRH": {"Al.extxyz": 72.7905, "Cu.cif": 136.1919, "MgO.cif": 156.2479,
                                             "NaCl.cif": 25.3213, "POSCAR_GaAs": 62.0146, "Si.cif": 106.0082},
    "LGBMRoutedCHGNet-MPKVRHAll-v1-KVRH": {"Al.extxyz": 82.0864, "Cu.cif": 147.4936, "MgO.cif": 154.7833,
                                           "NaCl.cif": 24.1884, "POSCAR_GaAs": 58.3334, "Si.cif": 91.0296},
    "SevenNetMF0EOS-MPBinary2025-v1-KVRH": {"Al.extxyz": 72.2767, "Cu.cif": 138.2379, "MgO.cif": 139.347,
                                            "NaCl.cif": 24.5624, "POSCAR_GaAs": 58.723, "Si.cif": 87.1093},
    # every example is held by symmetry: no softening, so the clamped model's K (tests/physics test the softening)
    "SevenNetMF0HarmonicIonsEOS-MPBinary2025-v1-KVRH": {"Al.extxyz": 72.2767, "Cu.cif": 138.2379, "MgO.cif": 139.347,
                                                        "NaCl.cif": 24.5624, "POSCAR_GaAs": 58.723, "Si.cif": 87.1093},
    "LGBMRoutedSevenNetMF0-MPKVRHAll-v1-KVRH": {"Al.extxyz": 80.8856, "Cu.cif": 143.9006, "MgO.cif": 165.5824,
                                                "NaCl.cif": 26.1556, "POSCAR_GaAs": 69.8771, "Si.cif": 94.5226},
    # retrained when the ion push got its force cap (NaN for the 16 training cells over 48 sites)
    "LGBMRoutedSevenNetMF0Ions-MPKVRHAll-v1-KVRH": {"Al.extxyz": 80.8579, "Cu.cif": 142.739, "MgO.cif": 160.1006,
                                                    "NaCl.cif": 25.5266, "POSCAR_GaAs": 67.7655, "Si.cif": 90.8104},
    "LGBM-MatbenchComp-v1-KVRH": {"Al.extxyz": 71.5679, "Cu.cif": 134.1189, "MgO.cif": 129.8845,
                                  "NaCl.cif": 24.8672, "POSCAR_GaAs": 57.4305, "Si.cif": 85.0251},
    # the original MEGNet models (weights from ../shared/data/megnet-pretrained, checked by sha256)
    "MEGNet-MP2019-v1-KVRH": {"Al.extxyz": 82.3798, "Cu.cif": 133.3131, "MgO.cif": 149.6537,
                              "NaCl.cif": 14.5366, "POSCAR_GaAs": 48.494, "Si.cif": 80.4642},
    "MEGNet-MP2018-v1-KVRH": {"Al.extxyz": 85.9396, "Cu.cif": 137.3196, "MgO.cif": 153.4927,
                              "NaCl.cif": 24.7067, "POSCAR_GaAs": 62.2218, "Si.cif": 79.8689},
}  # fmt: skip


def test_every_shipped_model_has_golden_values():
    assert set(list_pretrained()) <= set(GOLDEN), set(list_pretrained()) - set(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_shipped_model_reproduces_its_golden_values(name):
    df = bulkmod.predict(EXAMPLES, model=name)
    got = {Path(src).name: k for src, k in zip(df["source"], df["k_vrh_gpa"], strict=True)}
    assert got == pytest.approx(GOLDEN[name], rel=1e-3)
