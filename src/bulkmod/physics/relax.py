"""Relax input structures with a universal potential before a model sees them.

Descriptors such as density and bond lengths shift with an unrelaxed cell (a hand-built or strained
structure); a relaxation with the potential (matcalc's ``RelaxCalc``: FIRE, cell + ions) puts the input on
the potential's energy surface first. Non-converged relaxations are kept and reported, not hidden.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

from pymatgen.core import Structure

from bulkmod.optional import require
from bulkmod.physics.potentials import get_potential
from bulkmod.progress import progress_bar

FMAX = 0.05  # eV/Å
MAX_STEPS = 300


@dataclass(frozen=True)
class RelaxOutcome:
    """One relaxation's result, kept with its note so a failed or unconverged relaxation is reported, not hidden."""

    structure: Structure | None  # None when the potential could not relax it
    note: str  # "converged", "not converged (max force … eV/Å)" or the error


def relax_structures(
    structures: list[Structure], potential: str = "chgnet", *, fmax: float = FMAX, max_steps: int = MAX_STEPS
) -> list[RelaxOutcome]:
    """Relax each structure (cell and ions) with ``potential``; a failure becomes that row's note, not an error."""
    require("matcalc")
    from matcalc import RelaxCalc

    calc = RelaxCalc(get_potential(potential).calculator(), fmax=fmax, max_steps=max_steps, relax_cell=True)
    out = []
    for s in progress_bar(structures, f"relax ({potential})", unit="crystal", min_items=5):
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                res = calc.calc(s)
        except Exception as exc:  # whatever fails inside ASE or the potential becomes this row's error
            out.append(RelaxOutcome(None, f"relaxation failed: {type(exc).__name__}: {exc}"))
            continue
        note = "converged" if res["is_converged"] else f"not converged (max force {res['max_force']:.3f} eV/Å)"
        out.append(RelaxOutcome(res["final_structure"], note))
    return out
