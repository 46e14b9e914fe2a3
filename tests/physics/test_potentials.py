"""The scan's fast paths give the numbers of the plain ones: shared CHGNet graphs, batched energy-only SevenNet."""

from __future__ import annotations

import numpy as np
import pytest

from bulkmod.evaluation.benchmark import limit_rows
from bulkmod.physics.potentials import get_potential, strained

GRID = 1.0 + np.linspace(-0.06, 0.06, 7)


@pytest.fixture(scope="module")
def crystals(mp_binary):
    return limit_rows(mp_binary, 6).structures


def test_chgnet_shares_graphs_between_strained_copies_without_changing_energies(crystals, monkeypatch):
    pot = get_potential("chgnet")
    jobs = [(s, GRID * f) for s, f in zip(crystals, (0.9, 1.0, 1.0, 1.1, 1.0, 0.97), strict=True)]
    fresh = np.concatenate([pot.energies([strained(s, r) for r in ratios]) for s, ratios in jobs])
    built = []
    original = type(pot)._graph
    monkeypatch.setattr(type(pot), "_graph", lambda self, s: built.append(s) or original(self, s))
    shared = pot.strained_energies(jobs)
    # every copy's energy is its own (the lattice of the shared graph is the copy's), to float32 rounding
    assert np.abs(shared - fresh).max() < 2e-5
    assert len(np.unique(np.round(shared, 4))) > len(jobs)  # the copies' energies differ: no lattice left behind
    assert len(built) < sum(len(r) for _, r in jobs)  # fewer graphs than copies


@pytest.mark.slow
def test_sevennet_batched_energies_match_its_ase_calculator(crystals):
    from pymatgen.io.ase import AseAtomsAdaptor

    pot = get_potential("sevennet")
    copies = [strained(s, r) for s in crystals[:3] for r in (0.95, 1.05)]
    expected = []
    for s in copies:
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = pot.calculator()
        expected.append(atoms.get_potential_energy() / len(atoms))
    assert np.abs(pot.energies(copies) - np.array(expected)).max() < 2e-5
