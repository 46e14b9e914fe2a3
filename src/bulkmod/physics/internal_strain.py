"""How hard a strain pushes a crystal's ions: the measure of where the clamped E–V scan overstates K.

The clamped scan (:mod:`bulkmod.physics.eos`) strains a cell at fixed fractional coordinates. Where symmetry fixes
every atom's position (rock salt, CsCl, fcc metals) the ions would not move under hydrostatic strain anyway and
the clamped K is the potential's K. Where it leaves an atom free (quartz's atoms, rutile's oxygen), the strained
copy carries forces that a relaxation would follow, rotating units instead of compressing bonds, and the clamped K
is too stiff, up to several times for framework crystals
(``benchmarks/results/prior_limits/prior_limits_internal-strain_exploration.json``). Relaxing the ions costs
hundreds of force calls; telling the two kinds of crystal apart costs two.

The measure is the RMS over atoms of F(V·(1+δ)) − F(V·(1−δ)) on the primitive cell: the forces the potential
leaves on the input cell itself (its equilibrium is not DFT's) cancel, and what remains is the strain's own push.
Where symmetry pins every atom (no free coordinate, :func:`~bulkmod.data.symmetry.free_coordinates`) it is zero
without asking the potential: about half of the binaries. Pushes below ``HELD_BY_SYMMETRY`` count as zero, so the
two routes agree. What tells a model most is the size of the push, not whether there is one: a held/pushed
indicator, or the number of free coordinates, adds nothing to a model that has the space group
(``benchmarks/results/prior_limits/``).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from bulkmod.data.symmetry import free_coordinates, primitive_cell
from bulkmod.physics.eos import unscannable
from bulkmod.physics.potentials import Potential, strained

STRAIN = 0.04  # volume strain each way: inside the ±6 % scan window, large enough to rise over float32 noise
# eV/Å: below this, the push is symmetry's zero seen through float32 arithmetic
HELD_BY_SYMMETRY = 0.005
# Primitive-cell sites above which the push is NaN, not measured. A force call keeps the whole cell's autograd
# graph (about 4-6 MB per site for SevenNet), unlike the scan's energy-only batches; a cap keeps a prediction's
# memory bounded by it rather than by the largest cell in the stream
# (benchmarks/results/predict_memory/). Few crystals with free coordinates are this large.
MAX_FORCE_ATOMS = 48


def ion_strain_force(structure: Structure, potential: Potential) -> float:
    """RMS force difference (eV/Å) between the ``±STRAIN`` copies of one crystal; NaN where none can be had.

    0 where symmetry pins every atom (at any size) or the push is below ``HELD_BY_SYMMETRY``. NaN for a crystal no
    protocol may hand the potential (:func:`~bulkmod.physics.eos.unscannable`), for a primitive cell over
    ``MAX_FORCE_ATOMS`` sites and for one the potential fails on, so one bad crystal costs only its own number.
    """
    prim = primitive_cell(structure)
    if unscannable(prim, potential):
        return np.nan
    if free_coordinates(prim) == 0:
        return 0.0
    if len(prim) > MAX_FORCE_ATOMS:
        return np.nan
    forces = []
    try:
        calc = potential.calculator()
        for ratio in (1 + STRAIN, 1 - STRAIN):
            atoms = AseAtomsAdaptor.get_atoms(strained(prim, ratio))
            atoms.calc = calc
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                forces.append(np.asarray(atoms.get_forces(), float))
    except Exception:  # anything inside ASE or the potential: this crystal's NaN, not its neighbours' loss
        return np.nan
    push = float(np.sqrt(np.mean(np.sum((forces[0] - forces[1]) ** 2, axis=1))))
    return push if push >= HELD_BY_SYMMETRY else 0.0
