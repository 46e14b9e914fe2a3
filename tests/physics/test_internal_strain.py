"""The ion strain force tells crystals whose ions symmetry holds from those a strain pushes, and fails per crystal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bulkmod.data.files import read_structure
from bulkmod.data.symmetry import free_coordinates
from bulkmod.features import FeatureConfig, featurize
from bulkmod.physics import features as phys
from bulkmod.physics import internal_strain
from bulkmod.physics.internal_strain import HELD_BY_SYMMETRY, ion_strain_force
from bulkmod.physics.potentials import get_potential

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# alpha-quartz, rutile TiO2 and wurtzite ZnO, with their free Wyckoff parameters: quartz Si x and O xyz; rutile's
# O x; wurtzite's two z, one of them only the polar axis's free origin. The examples' Si, NaCl and MgO have none.
PUSHED = {"mp-6930": 4, "mp-2657": 1, "mp-2133": 1}


@pytest.fixture(scope="module")
def held():
    return [read_structure(EXAMPLES / f) for f in ("Si.cif", "NaCl.cif", "MgO.cif")]


@pytest.fixture(scope="module")
def pushed(mp_binary):
    rows = [mp_binary.ids.index(i) for i in PUSHED]
    return mp_binary.subset(rows)


def test_free_coordinates_are_the_free_wyckoff_parameters(held, pushed):
    assert [free_coordinates(s) for s in held] == [0, 0, 0]
    assert [free_coordinates(s) for s in pushed.structures] == list(PUSHED.values())
    shifted = pushed.structures[2].copy()
    shifted.translate_sites(range(len(shifted)), [0.1, 0.2, 0.3])  # origin moved: still one parameter
    assert free_coordinates(shifted) == 1


def test_symmetry_held_ions_feel_no_push_and_free_ones_do(held, pushed, monkeypatch):
    pot = get_potential("chgnet")
    # quartz and rutile; wurtzite's u barely moves under pressure, a push near the threshold
    assert all(ion_strain_force(s, pot) > 10 * HELD_BY_SYMMETRY for s in pushed.structures[:2])
    # held crystals never reach the potential: symmetry answers
    monkeypatch.setattr(pot, "calculator", lambda: (_ for _ in ()).throw(AssertionError("potential asked")))
    assert [ion_strain_force(s, pot) for s in held] == [0.0] * 3
    # a supercell is the same crystal: measured as its primitive cell, still held
    big = held[1].copy()
    big.make_supercell([2, 1, 1])
    assert ion_strain_force(big, pot) == 0.0


def test_a_crystal_the_potential_cannot_take_gets_nan_not_an_exception(held, pushed, monkeypatch):
    pot = get_potential("chgnet")
    monkeypatch.setattr(pot, "unsupported", lambda s: "no parameters for Si" if "Si" in s.formula else None)
    assert np.isnan(ion_strain_force(held[0], pot)) and ion_strain_force(held[1], pot) == 0.0
    monkeypatch.setattr(pot, "calculator", lambda: (_ for _ in ()).throw(RuntimeError("diverged")))
    assert np.isnan(ion_strain_force(pushed.structures[0], pot))


def test_a_cell_over_the_force_cap_gets_nan_without_a_force_call(held, pushed, monkeypatch):
    pot = get_potential("chgnet")
    asked, real = [], pot.calculator
    monkeypatch.setattr(pot, "calculator", lambda: asked.append(1) or real())
    quartz, rutile = pushed.structures[0], pushed.structures[1]  # 9 and 6 sites in the primitive cell
    monkeypatch.setattr(internal_strain, "MAX_FORCE_ATOMS", 8)
    assert np.isnan(ion_strain_force(quartz, pot)) and not asked
    big = held[1].copy()
    big.make_supercell([3, 3, 3])  # held by symmetry answers before the cap: still 0, at any size
    assert ion_strain_force(big, pot) == 0.0 and not asked
    assert ion_strain_force(rutile, pot) > HELD_BY_SYMMETRY and asked  # under the cap the potential is asked


def test_umlip_ions_feature_group_is_cached(held, pushed, monkeypatch):
    cfg = FeatureConfig(("stoich", "umlip-ions"))
    X, errors = featurize(pushed, cfg)
    assert not errors and cfg.names()[-1] == "umlip_log10_ion_strain_force"
    pot = get_potential("chgnet")
    expected = [np.log10(ion_strain_force(s, pot) + phys.ION_FLOOR) for s in pushed.structures]
    np.testing.assert_allclose(X[:, -1], expected, rtol=1e-6)
    monkeypatch.setattr(phys, "ion_strain_force", lambda s, p: (_ for _ in ()).throw(AssertionError("cache missed")))
    np.testing.assert_array_equal(featurize(pushed, cfg)[0], X)


def _explicit_softening(structure, pot) -> float:
    """The same gᵀΦ⁺g / V from the whole force-constant matrix, by central differences atom by atom."""
    from bulkmod.data.symmetry import primitive_cell

    prim = primitive_cell(structure)
    calc = pot.calculator()
    g = internal_strain._strain_force_difference(prim, calc) / (2 * internal_strain.STRAIN)
    g -= np.tile(g.reshape(-1, 3).mean(axis=0), len(prim))
    h, cols = internal_strain.DISPLACEMENT, []
    for k in range(3 * len(prim)):
        step = np.zeros(3)
        step[k % 3] = h
        moved = [prim.copy() for _ in range(2)]
        for m, sign in zip(moved, (1, -1), strict=True):
            m.translate_sites([k // 3], sign * step, frac_coords=False)
        cols.append(-(internal_strain._forces(moved[0], calc) - internal_strain._forces(moved[1], calc)) / (2 * h))
    w, u = np.linalg.eigh(0.5 * (np.array(cols) + np.array(cols).T))
    keep = w > 1e-3 * w.max()
    return float(np.sum((u[:, keep].T @ g) ** 2 / w[keep]) / prim.volume * internal_strain.EV_PER_A3_TO_GPA)


def test_relaxing_the_ions_softens_quartz_as_the_whole_force_constant_matrix_says(held, pushed, monkeypatch):
    pot = get_potential("chgnet")
    quartz = pushed.structures[0]
    got = internal_strain.ion_relaxation_softening(quartz, pot)
    # four free coordinates: the Krylov space closes within five Hessian-vector products
    assert got.softening_gpa > 10 and 1 <= got.vectors <= PUSHED["mp-6930"] + 1
    # float32 forces through central differences: the two routes agree to a few per cent
    assert got.softening_gpa == pytest.approx(_explicit_softening(quartz, pot), rel=0.1)
    monkeypatch.setattr(pot, "calculator", lambda: (_ for _ in ()).throw(RuntimeError("diverged")))
    assert np.isnan(internal_strain.ion_relaxation_softening(quartz, pot).softening_gpa)
    # held crystals: no softening, and the potential is never asked (it would raise)
    assert [internal_strain.ion_relaxation_softening(s, pot).softening_gpa for s in held] == [0.0] * 3


def test_harmonic_ions_protocol_lowers_only_pushed_crystals_and_flags_what_it_cannot_relax(held, pushed):
    from bulkmod.physics.eos import EOSResult, ScanConfig
    from bulkmod.physics.protocols import ions_relaxed, k_results

    ok = EOSResult(100.0, 4.5, 1.01, -5.0, 0.1, "ok", 1)
    assert ions_relaxed(ok, 30.0).k0_gpa == 70.0 and ions_relaxed(ok, 30.0).flag == "ok"
    assert ions_relaxed(ok, np.nan).flag == "ions-not-relaxed" and np.isnan(ions_relaxed(ok, np.nan).k0_gpa)
    assert ions_relaxed(ok, 120.0).flag == "k0<=0"
    bad = EOSResult.failed("non-convex", 1)
    assert ions_relaxed(bad, 5.0) == bad  # a failed scan keeps its own flag
    pot = get_potential("chgnet")
    crystals = [*held, pushed.structures[0]]
    clamped = phys.eos_results(crystals, "chgnet", progress=False)
    relaxed = phys.eos_results(crystals, "chgnet", ScanConfig(protocol="harmonic-ions"), progress=False)
    assert [r.k0_gpa for r in relaxed[:3]] == [r.k0_gpa for r in clamped[:3]]  # held: softening 0
    assert relaxed[3].k0_gpa < 0.8 * clamped[3].k0_gpa  # quartz softens by far more than a fifth
    # the uncached route gives the same numbers
    direct = k_results(crystals, pot, ScanConfig(protocol="harmonic-ions"))
    np.testing.assert_allclose([r.k0_gpa for r in direct], [r.k0_gpa for r in relaxed], rtol=1e-6)


def test_umlip_relaxed_feature_is_the_harmonic_ions_k_of_the_features_own_scan(pushed):
    from bulkmod.physics.eos import ScanConfig

    cfg = FeatureConfig(("stoich", "umlip-eos", "umlip-relaxed"))
    X, errors = featurize(pushed, cfg)
    assert not errors and cfg.names()[-1] == "umlip_log10_k_ions_relaxed"
    harmonic = phys.eos_results(pushed.structures, "chgnet", ScanConfig(protocol="harmonic-ions"), progress=False)
    np.testing.assert_allclose(X[:, -1], np.log10([r.k0_gpa for r in harmonic]), rtol=1e-9)
    assert X[0, -1] < X[0, cfg.names().index("umlip_log10_k0")] - 0.1  # quartz: far softer than its clamped K
