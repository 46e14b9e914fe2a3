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

How much the ions' relaxation softens K follows from the same push in the harmonic picture of relaxed-ion
elastic constants: with g = ∂F/∂ε (ε the volume strain) and Φ the force-constant matrix,
K_relaxed = K_clamped − gᵀΦ⁻¹g / V (:func:`ion_relaxation_softening`). Φ is never built: g is totally
symmetric, so the Krylov space of Φ from g stays in the space of the free Wyckoff coordinates and closes after
as many Hessian-vector products, each two force calls at displaced positions. That is a few force calls per
crystal where relaxing the ions at every volume of a scan takes hundreds.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from bulkmod.data.symmetry import free_coordinates, primitive_cell
from bulkmod.physics.eos import EV_PER_A3_TO_GPA, unscannable
from bulkmod.physics.potentials import Potential, strained

STRAIN = 0.04  # volume strain each way: inside the ±6 % scan window, large enough to rise over float32 noise
# eV/Å: below this, the push is symmetry's zero seen through float32 arithmetic
HELD_BY_SYMMETRY = 0.005
# Primitive-cell sites above which the push is NaN, not measured. A force call keeps the whole cell's autograd
# graph, unlike the scan's energy-only batches, so its memory grows with the cell; a cap keeps a prediction's
# memory bounded by it rather than by the largest cell in the stream
# (benchmarks/results/predict_memory/). Few crystals with free coordinates are this large.
MAX_FORCE_ATOMS = 48
DISPLACEMENT = 0.01  # Å along a unit 3N-vector: the Hessian-vector products' central difference


def _forces(structure: Structure, calc) -> np.ndarray:
    """The potential's forces on ``structure`` (eV/Å) as one 3N vector."""
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calc
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return np.asarray(atoms.get_forces(), float).ravel()


def _strain_force_difference(prim: Structure, calc) -> np.ndarray:
    """F(V·(1+STRAIN)) − F(V·(1−STRAIN)) at fixed fractional coordinates, as one 3N vector."""
    return _forces(strained(prim, 1 + STRAIN), calc) - _forces(strained(prim, 1 - STRAIN), calc)


def _answered_without_forces(structure: Structure, potential: Potential) -> tuple[Structure, int | None, float | None]:
    """The primitive cell, its free coordinates (spglib, once), and the answer where no force call is needed.

    The answer is None where force calls are needed and allowed; NaN for a crystal the potential may not take or
    a cell over ``MAX_FORCE_ATOMS``; 0 where symmetry pins every atom, at any size.
    """
    prim = primitive_cell(structure)
    if unscannable(prim, potential):
        return prim, None, np.nan
    free = free_coordinates(prim)
    if free == 0:
        return prim, free, 0.0
    return prim, free, (np.nan if len(prim) > MAX_FORCE_ATOMS else None)


def _push(diff: np.ndarray) -> float:
    """RMS over atoms of a 3N force difference; 0 below ``HELD_BY_SYMMETRY``."""
    push = float(np.sqrt(np.mean(np.sum(diff.reshape(-1, 3) ** 2, axis=1))))
    return push if push >= HELD_BY_SYMMETRY else 0.0


def ion_strain_force(structure: Structure, potential: Potential) -> float:
    """RMS force difference (eV/Å) between the ``±STRAIN`` copies of one crystal; NaN where none can be had.

    0 where symmetry pins every atom (at any size) or the push is below ``HELD_BY_SYMMETRY``. NaN for a crystal no
    protocol may hand the potential (:func:`~bulkmod.physics.eos.unscannable`), for a primitive cell over
    ``MAX_FORCE_ATOMS`` sites and for one the potential fails on, so one bad crystal costs only its own number.
    """
    prim, _, answer = _answered_without_forces(structure, potential)
    if answer is not None:
        return answer
    try:
        return _push(_strain_force_difference(prim, potential.calculator()))
    except Exception:  # anything inside ASE or the potential: this crystal's NaN, not its neighbours' loss
        return np.nan


@dataclass(frozen=True)
class IonRelaxation:
    """What :func:`ion_relaxation_softening` found: the softening, and how it was reached."""

    softening_gpa: float  # K_clamped − K_relaxed; NaN where it could not be had
    vectors: int = 0  # Hessian-vector products (two force calls each)
    unstable: int = 0  # directions of the Krylov space with no positive curvature, left out


def ion_relaxation_softening(structure: Structure, potential: Potential) -> IonRelaxation:
    """How much letting the ions relax lowers the clamped scan's K (GPa), harmonic, at the input positions.

    gᵀΦ⁻¹g / V with g = ∂F/∂ε from the ``±STRAIN`` copies and Φ met only through Hessian-vector products in the
    Krylov space of g (at most one more vector than the free coordinates). Directions where the potential's
    curvature is not positive (the input positions are not its equilibrium) are left out and counted. 0 without
    a force call where symmetry pins every atom; NaN where :func:`ion_strain_force` is NaN.
    """
    prim, free, answer = _answered_without_forces(structure, potential)
    if answer is not None:
        return IonRelaxation(answer)
    try:
        calc = potential.calculator()
        diff = _strain_force_difference(prim, calc)
        if _push(diff) == 0:
            return IonRelaxation(0.0)
        if free is None:  # spglib could not tell: no bound on the Krylov space to trust
            return IonRelaxation(np.nan)
        g = diff / (2 * STRAIN)
        g -= np.tile(g.reshape(-1, 3).mean(axis=0), len(prim))  # no push moves the whole crystal
        basis, images = _krylov(prim, calc, g, free + 1)
    except Exception:  # as in ion_strain_force: this crystal's NaN only
        return IonRelaxation(np.nan)
    curvature, axes = np.linalg.eigh(0.5 * (basis @ images.T + images @ basis.T))
    reach = axes.T @ (basis @ g)
    stable = curvature > 1e-3 * max(curvature.max(), 1e-12)
    softening = float(np.sum(reach[stable] ** 2 / curvature[stable]) / prim.volume * EV_PER_A3_TO_GPA)
    return IonRelaxation(softening, len(basis), int((~stable).sum()))


def _krylov(prim: Structure, calc, g: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal basis Q of the Krylov space of Φ from ``g`` (rows) and ΦQ, by central differences of forces.

    Stops when Φ maps the space into itself (to 1 % of the image) or after ``most`` vectors.
    """
    basis: list[np.ndarray] = []
    images: list[np.ndarray] = []
    q = g / np.linalg.norm(g)
    cart = prim.cart_coords.ravel()
    for _ in range(most):
        step = DISPLACEMENT * q
        plus, minus = (
            Structure(prim.lattice, prim.species, (cart + s).reshape(-1, 3), coords_are_cartesian=True)
            for s in (step, -step)
        )
        image = -(_forces(plus, calc) - _forces(minus, calc)) / (2 * DISPLACEMENT)
        basis.append(q)
        images.append(image)
        rest = image - sum(np.dot(image, b) * b for b in basis)
        rest -= sum(np.dot(rest, b) * b for b in basis)  # twice: float32 forces lose orthogonality fast
        if np.linalg.norm(rest) < 1e-2 * np.linalg.norm(image):
            break
        q = rest / np.linalg.norm(rest)
    return np.array(basis), np.array(images)
