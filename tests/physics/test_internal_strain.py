"""The ion strain force tells crystals whose ions symmetry holds from those a strain pushes, and fails per crystal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bulkmod.data.files import read_structure
from bulkmod.features import FeatureConfig, featurize
from bulkmod.physics import features as phys
from bulkmod.physics.internal_strain import HELD_BY_SYMMETRY, ion_strain_force
from bulkmod.physics.potentials import get_potential

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# alpha-quartz and a rutile-type oxide: oxygen positions free by symmetry; the examples' Si, NaCl and MgO: none
PUSHED = ("mp-6930", "mp-2657")


@pytest.fixture(scope="module")
def held():
    return [read_structure(EXAMPLES / f) for f in ("Si.cif", "NaCl.cif", "MgO.cif")]


@pytest.fixture(scope="module")
def pushed(mp_binary):
    rows = [mp_binary.ids.index(i) for i in PUSHED]
    return mp_binary.subset(rows)


def test_symmetry_held_ions_feel_no_push_and_free_ones_do(held, pushed):
    pot = get_potential("chgnet")
    assert [ion_strain_force(s, pot) < HELD_BY_SYMMETRY for s in held] == [True] * 3
    # a supercell is the same crystal: scanned as its primitive cell, still held
    big = held[1].copy()
    big.make_supercell([2, 1, 1])
    assert ion_strain_force(big, pot) < HELD_BY_SYMMETRY
    assert all(ion_strain_force(s, pot) > 10 * HELD_BY_SYMMETRY for s in pushed.structures)


def test_a_crystal_the_potential_cannot_take_gets_nan_not_an_exception(held, monkeypatch):
    pot = get_potential("chgnet")
    monkeypatch.setattr(pot, "unsupported", lambda s: "no parameters for Si" if "Si" in s.formula else None)
    assert np.isnan(ion_strain_force(held[0], pot)) and np.isfinite(ion_strain_force(held[1], pot))
    monkeypatch.setattr(pot, "calculator", lambda: (_ for _ in ()).throw(RuntimeError("diverged")))
    assert np.isnan(ion_strain_force(held[1], pot))


def test_umlip_ions_feature_group_is_cached(held, pushed, monkeypatch):
    cfg = FeatureConfig(("stoich", "umlip-ions"))
    X, errors = featurize(pushed, cfg)
    assert not errors and cfg.names()[-1] == "umlip_log10_ion_strain_force"
    pot = get_potential("chgnet")
    expected = [np.log10(ion_strain_force(s, pot) + phys.ION_FLOOR) for s in pushed.structures]
    np.testing.assert_allclose(X[:, -1], expected, rtol=1e-6)
    monkeypatch.setattr(phys, "ion_strain_force", lambda s, p: (_ for _ in ()).throw(AssertionError("cache missed")))
    np.testing.assert_array_equal(featurize(pushed, cfg)[0], X)
