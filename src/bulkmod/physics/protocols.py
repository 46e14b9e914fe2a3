"""The slower routes to K from a potential, beside the clamped E–V scan of :mod:`bulkmod.physics.eos`.

- ``harmonic-ions``: the clamped scan's K less what relaxing the ions would take off it, in the harmonic
  picture (:func:`~bulkmod.physics.internal_strain.ion_relaxation_softening`): no force call where symmetry
  pins every atom, a few where it does not. The cell shape stays clamped. A cell over the force calls' cap, or
  one the force calls fail on, is flagged ``ions-not-relaxed``, not given the clamped K it would overstate.

- ``relaxed``: the potential's own equilibrium first (cell and ions, FIRE), then an E–V scan in which every
  volume relaxes its cell shape and ions at that volume (matcalc's ``EOSCalc``, ``allow_shape_change``). This is
  the hydrostatic, Reuss-like K: a crystal that can shear or let its ions move under pressure does, where the
  clamped scan, which scales the cell at fixed fractional coordinates, gives a Voigt-like upper bound.
- ``elastic``: the full elastic tensor from strain–stress fits at the relaxed cell (matcalc's
  ``ElasticityCalc``, clamped ions), and K_VRH from it: the quantity the Materials Project labels are.

The last two go through the potential's ASE calculator one structure at a time, with many force and stress calls per
crystal, so they cost far more than the batched clamped scan; ``benchmarks/physics_prior.py`` measures how
much, and which tracks the DFT K_VRH best. Each returns :class:`~bulkmod.physics.eos.EOSResult` rows, so the
cache, the features and the zero-shot model take them unchanged; a crystal whose relaxation or fit fails gets a
flag and no number, never an exception that would cost its neighbours.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import replace

import numpy as np
from pymatgen.core import Structure

from bulkmod.optional import require
from bulkmod.physics.eos import K_PRIME_PHYSICAL, EOSResult, ScanConfig, fit_birch_murnaghan, scan_eos, unscannable
from bulkmod.physics.internal_strain import ion_relaxation_softening
from bulkmod.physics.potentials import Potential

# eV/Å (and the cell filter's stress times volume): tight, because the scan and the strains sit around the
# relaxed cell, and --relax's 0.05 leaves it far enough from equilibrium to move K by several per cent
FMAX = 0.002
MAX_STEPS = 500


def _quiet(run):
    """Run ``run()`` with matcalc's and ASE's chatter (optimiser logs, fit warnings) kept off the terminal."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return run()


def relaxed_eos(structure: Structure, potential: Potential, points: int, half_width: float) -> EOSResult:
    """Shape- and ion-relaxed E–V scan over ``±half_width`` in volume around the relaxed cell."""
    from matcalc import EOSCalc

    strain = (1.0 + half_width) ** (1 / 3) - 1.0  # matcalc strains lengths, the scan's window is in volume
    calc = EOSCalc(
        potential.calculator(), n_points=points, max_abs_strain=strain, fmax=FMAX, max_steps=MAX_STEPS, r2_min=-1.0
    )
    res = _quiet(lambda: calc.calc(structure))
    per_atom = structure.volume / len(structure)
    volumes = np.asarray(res["eos"]["volumes"], float) / len(structure)
    energies = np.asarray(res["eos"]["energies"], float) / len(structure)
    order = np.argsort(volumes)
    return fit_birch_murnaghan(volumes[order] / per_atom, energies[order], per_atom, 1, K_PRIME_PHYSICAL)


def elastic_kvrh(structure: Structure, potential: Potential) -> EOSResult:
    """K_VRH of the strain–stress elastic tensor at the relaxed cell; V₀ is that cell's volume.

    matcalc's mean R² of the 36 stress-strain fits is not used as a check: it averages in components that are
    zero by symmetry, whose stresses are numerical noise, so a clean cubic crystal scores far below any threshold.
    """
    from matcalc import ElasticityCalc

    calc = ElasticityCalc(potential.calculator(), fmax=FMAX, units_GPa=True, r2_min=-1.0)
    res = _quiet(lambda: calc.calc(structure))
    k = float(res["bulk_modulus_vrh"])
    v0 = float(res["structure"].volume) / structure.volume
    if not np.isfinite(k) or k <= 0:
        return EOSResult.failed("k0<=0", 1, v0)
    return EOSResult(k, np.nan, v0, np.nan, np.nan, "ok", 1)


def ions_relaxed(clamped: EOSResult, softening: float) -> EOSResult:
    """The clamped scan's result with its K less the ions' harmonic softening (GPa; flagged where there is none)."""
    if not clamped.usable:
        return clamped
    if np.isnan(softening):
        return EOSResult.failed("ions-not-relaxed", clamped.n_scans, clamped.v0_ratio)
    if softening >= clamped.k0_gpa:
        return EOSResult.failed("k0<=0", clamped.n_scans, clamped.v0_ratio)
    return replace(clamped, k0_gpa=clamped.k0_gpa - softening)


def k_results(structures: list[Structure], potential: Potential, cfg: ScanConfig) -> list[EOSResult]:
    """One result per structure by ``cfg.protocol`` (module docstring); failures are flags.

    As in the clamped scan: an element the potential lacks, a cell over ``MAX_SCAN_ATOMS``, a relaxation that fails.
    """
    if cfg.protocol in ("clamped", "harmonic-ions"):
        clamped = scan_eos(structures, potential, replace(cfg, protocol="clamped"), progress=False)
        if cfg.protocol == "clamped":
            return clamped
        return [
            ions_relaxed(r, ion_relaxation_softening(s, potential).softening_gpa if r.usable else np.nan)
            for r, s in zip(clamped, structures, strict=True)
        ]
    require("matcalc")
    out = []
    for s in structures:
        if flag := unscannable(s, potential):
            out.append(EOSResult.failed(flag))
            continue
        try:
            out.append(
                relaxed_eos(s, potential, cfg.points, cfg.half_width)
                if cfg.protocol == "relaxed"
                else elastic_kvrh(s, potential)
            )
        except Exception:  # a relaxation that diverges, or any error inside ASE or the potential: this row's flag
            out.append(EOSResult.failed("relax-failed", 1))
    return out
