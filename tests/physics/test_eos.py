"""E–V scans and Birch–Murnaghan fits: exact on an analytic potential, flagged when the curve is bad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from bulkmod.errors import BulkmodError
from bulkmod.physics.eos import (
    EV_PER_A3_TO_GPA,
    FLAGS,
    MAX_SCAN_ATOMS,
    EOSResult,
    ScanConfig,
    _bm_energy,
    fit_birch_murnaghan,
    scan_chunk,
    scan_eos,
)
from bulkmod.physics.potentials import Potential, atom_batches, strained


class AnalyticPotential(Potential):
    """Birch–Murnaghan energies with a known K₀ and a minimum away from the input volume."""

    name = "analytic"
    package = "numpy"
    model_name = "bm"
    atomic_numbers = frozenset(range(1, 95))  # as CHGNet: H to Pu

    def __init__(self, k0_gpa: dict[str, float], v0_ratio: float, bad: str | None = None) -> None:
        self.k0, self.v0_ratio, self.bad, self.calls = k0_gpa, v0_ratio, bad, 0

    def energies(self, structures):
        self.calls += 1
        if self.bad and any(s.composition.reduced_formula == self.bad for s in structures):
            raise BulkmodError("cannot evaluate")
        out = []
        for s in structures:
            k = self.k0[s.composition.reduced_formula] / EV_PER_A3_TO_GPA
            v = s.volume / len(s)
            out.append(_bm_energy(np.array([v]), -3.0, k, V_REF[s.composition.reduced_formula] * self.v0_ratio, 4.5)[0])
        return np.array(out)

    def calculator(self):
        raise NotImplementedError


V_REF: dict[str, float] = {}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _cubic(symbol: str, a: float) -> Structure:
    s = Structure(Lattice.cubic(a), [symbol], [[0, 0, 0]])
    V_REF[s.composition.reduced_formula] = s.volume
    return s


def test_fit_recovers_known_modulus_and_flags_bad_curves():
    ratios = 1 + np.linspace(-0.06, 0.06, 7)
    e = _bm_energy(ratios * 20.0, -5.0, 100 / EV_PER_A3_TO_GPA, 20.0, 4.2)
    r = fit_birch_murnaghan(ratios, e, 20.0, 1)
    assert r.flag == "ok" and r.k0_gpa == pytest.approx(100, rel=1e-3) and r.k_prime == pytest.approx(4.2, rel=1e-2)
    assert r.v0_ratio == pytest.approx(1.0, abs=1e-4) and r.residual_mev < 1e-3
    assert fit_birch_murnaghan(ratios, -e, 20.0, 1).flag == "non-convex"
    assert fit_birch_murnaghan(ratios, np.r_[e[:-1], np.nan], 20.0, 1).flag == "potential-error"
    monotone = _bm_energy(ratios * 20.0, -5.0, 100 / EV_PER_A3_TO_GPA, 23.0, 4.2)  # minimum beyond the window
    assert fit_birch_murnaghan(ratios, monotone, 20.0, 1).flag == "not-bracketed"
    noisy = e + np.random.default_rng(0).normal(0, 2e-4, 7)  # noise a potential has: K' unpinned, K0 still fine
    r = fit_birch_murnaghan(ratios, noisy, 20.0, 1)
    assert r.usable and r.k0_gpa == pytest.approx(100, rel=0.1)
    assert EOSResult.from_vector(r.as_vector()) == r


def test_scan_recentres_on_the_potential_minimum_and_isolates_failures():
    crystals = [_cubic("Cu", 3.0), _cubic("Na", 4.2), _cubic("Al", 3.3)]
    pot = AnalyticPotential({"Cu": 140.0, "Na": 6.0, "Al": 75.0}, v0_ratio=1.2, bad="Al")
    plain = scan_chunk(crystals, pot, ScanConfig(max_recentre=0))
    assert [r.flag for r in plain] == ["not-bracketed", "not-bracketed", "potential-error"]
    res = scan_chunk(crystals, pot, ScanConfig())
    assert [r.flag for r in res[:2]] == ["ok", "ok"] and res[2].flag == "potential-error"
    assert res[0].k0_gpa == pytest.approx(140, rel=1e-2) and res[1].k0_gpa == pytest.approx(6, rel=1e-2)
    assert res[0].v0_ratio == pytest.approx(1.2, rel=1e-3) and res[0].n_scans >= 3
    assert set(FLAGS) >= {r.flag for r in res}


def test_large_cells_are_flagged_not_scanned_and_batches_are_capped_by_atoms():
    big = _cubic("Cu", 3.0).make_supercell([6, 6, 6], in_place=False)  # 216 sites
    big.replace(0, "Ag")  # no smaller repeating cell: the scan cannot reduce it
    V_REF["AgCu215"] = big.volume / len(big)
    assert len(big) > MAX_SCAN_ATOMS
    small = _cubic("Na", 4.2)
    pot = AnalyticPotential({"Cu": 140.0, "Na": 6.0, "AgCu215": 140.0}, v0_ratio=1.0)
    res = scan_chunk([big, small], pot, ScanConfig())
    assert [r.flag for r in res] == ["too-large", "ok"] and np.isnan(res[0].k0_gpa)
    assert scan_chunk([big], pot, ScanConfig())[0].flag == "too-large"  # nothing to scan: no empty batch
    groups = atom_batches([big, small, small, big], max_atoms=216)
    assert [[len(s) for s in g] for g in groups] == [[216], [1, 1], [216]]
    assert atom_batches([], max_atoms=10) == []


def test_a_supercell_is_scanned_on_its_primitive_cell():
    """Same K, V₀ and E₀ per atom as the primitive cell, at a fraction of the atoms through the potential."""
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])  # conventional: 8 sites
    V_REF["Si"] = si.volume / len(si)
    seen: list[int] = []

    class Counting(AnalyticPotential):
        def energies(self, structures):
            seen.extend(len(s) for s in structures)
            return super().energies(structures)

    pot = Counting({"Si": 98.0}, v0_ratio=1.0)
    conventional, supercell = scan_chunk([si, si * (2, 1, 1)], pot, ScanConfig())
    assert set(seen) == {2}  # the primitive cell of diamond
    assert conventional == supercell and conventional.k0_gpa == pytest.approx(98.0, rel=1e-3)
    distorted = si.copy()
    distorted.translate_sites([0], [0.01, 0, 0])  # 0.05 Å: not a supercell of anything smaller
    seen.clear()
    scan_chunk([distorted], pot, ScanConfig())
    assert set(seen) == {8}


def test_scan_config_is_validated():
    with pytest.raises(BulkmodError, match="points"):
        ScanConfig(points=3)


def test_elements_the_potential_lacks_are_flagged_before_it_runs():
    """CHGNet's tables end at Pu: an americium crystal used to crash its batch with a tensor-shape error."""
    crystals = [_cubic("Cu", 3.0), _cubic("Am", 3.5)]
    pot = AnalyticPotential({"Cu": 140.0, "Am": 30.0}, v0_ratio=1.0)
    res = scan_chunk(crystals, pot, ScanConfig())
    assert [r.flag for r in res] == ["ok", "unsupported-element"] and np.isnan(res[1].k0_gpa)
    assert pot.unsupported(crystals[1]) == "analytic has no parameters for Am"
    with pytest.raises(BulkmodError, match="no parameters for Am"):
        pot.check(crystals)


def test_chgnet_refuses_americium_in_words():
    from bulkmod.physics.potentials import get_potential

    chgnet = get_potential("chgnet")
    with pytest.raises(BulkmodError, match="chgnet has no parameters for Am"):
        chgnet.energies([_cubic("Am", 3.5)])


def test_equilibrium_protocol_converges_on_v0_and_flags_implausible_k_prime():
    crystals = [_cubic("Cu", 3.0), _cubic("Na", 4.2)]
    pot = AnalyticPotential({"Cu": 140.0, "Na": 6.0}, v0_ratio=1.2)
    res = scan_chunk(crystals, pot, ScanConfig(centre="equilibrium"))
    assert [r.flag for r in res] == ["ok", "ok"] and res[0].k0_gpa == pytest.approx(140, rel=1e-3)
    assert res[0].n_scans > scan_chunk(crystals, pot, ScanConfig())[0].n_scans  # rescanned around V0
    ratios = 1 + np.linspace(-0.06, 0.06, 7)
    stiff_k_prime = _bm_energy(ratios * 20.0, -5.0, 100 / EV_PER_A3_TO_GPA, 20.0, 14.0)  # passes the old window
    assert fit_birch_murnaghan(ratios, stiff_k_prime, 20.0, 1).flag == "ok"
    physical = ScanConfig(centre="equilibrium").k_prime_window
    assert fit_birch_murnaghan(ratios, stiff_k_prime, 20.0, 1, physical).flag == "k-prime-fixed"
    assert "centre" not in ScanConfig().as_dict()  # old cache keys and manifests stay valid
    with pytest.raises(BulkmodError, match="centre"):
        ScanConfig(centre="middle")


@pytest.mark.slow
def test_chgnet_bulk_modulus_does_not_depend_on_the_input_volume():
    """Issue 18's target: K changes by at most 1 % when the input cell's volume is scaled by ±5 %."""
    from bulkmod.data.stream import iter_items
    from bulkmod.physics.potentials import get_potential

    names = ["Si.cif", "POSCAR_GaAs", "Al.extxyz"]  # Al and GaAs moved by 35 % and 87 % under the old protocol
    crystals = [item.read()[1] for item in iter_items([str(EXAMPLES / n) for n in names])]
    pot, cfg = get_potential("chgnet"), ScanConfig(centre="equilibrium")
    for name, s in zip(names, crystals, strict=True):
        k = [r.k0_gpa for r in scan_eos([strained(s, f) for f in (0.95, 1.0, 1.05)], pot, cfg, progress=False)]
        assert max(abs(np.array(k) / k[1] - 1)) <= 0.01, (name, k)


def test_slow_protocols_are_chosen_by_config_and_keep_old_cache_keys():
    assert "protocol" not in ScanConfig().as_dict()
    assert ScanConfig(protocol="elastic").as_dict()["protocol"] == "elastic"
    with pytest.raises(BulkmodError, match=r"K protocol 'stress': use clamped, harmonic-ions, relaxed, elastic"):
        ScanConfig(protocol="stress")


@pytest.mark.slow
def test_relaxed_and_elastic_protocols_start_from_the_potentials_own_cell():
    """Both relax first, so K is the crystal's and the potential's, not the input cell's; a crystal they cannot
    take is a flag, not an exception."""
    from bulkmod.physics.potentials import get_potential
    from bulkmod.physics.protocols import k_results

    pot = get_potential("chgnet")
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    clamped = scan_eos([nacl], pot, ScanConfig(centre="equilibrium"), progress=False)[0].k0_gpa
    for protocol in ("relaxed", "elastic"):
        res = k_results([strained(nacl, f) for f in (0.95, 1.05)], pot, ScanConfig(protocol=protocol))
        k = np.array([r.k0_gpa for r in res])
        assert all(r.flag in ("ok", "k-prime-fixed") for r in res), (protocol, res)
        assert abs(k[0] / k[1] - 1) <= 0.02, (protocol, k)
        # the same crystal and potential: near the clamped scan's K at its equilibrium (NaCl's ions sit on
        # symmetry sites, so relaxing them changes little; the elastic route is a different estimator of K)
        assert abs(k.mean() / clamped - 1) <= 0.25, (protocol, k, clamped)
    big = nacl * (6, 6, 6)
    assert [r.flag for r in k_results([big], pot, ScanConfig(protocol="relaxed"))] == ["too-large"]
