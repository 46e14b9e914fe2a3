"""Bulk modulus the way physics defines it, K = V d²E/dV², from a potential's energy–volume curve.

Each crystal, on its primitive cell, is strained isotropically (fixed fractional coordinates) to ``points``
volumes around a centre; all copies of a chunk go through the potential in one batch. If the lowest energy sits
at the edge of the window, the window is re-centred there and scanned again: a ±6 % scan around the input
volume misses the potential's own minimum for soft, layered crystals. A Birch–Murnaghan fit (pymatgen) gives
K₀, K′, V₀ and the fit residual; anything that is not a clean bracketed minimum carries a flag, never a silent number.

``centre="equilibrium"`` makes K a property of the crystal and the potential rather than of the cell the user
gave: once the minimum is bracketed, rounds are scanned symmetrically around the fitted V₀ until it stops
moving, and only the last round is fitted, so an input cell scaled by a few per cent samples the same volumes.
Its K′ window is the physical one (``K_PRIME_PHYSICAL``): a fit outside it is refitted at K′ = 4 and flagged, so
``ok`` means a trustworthy fit. The default ``centre="bracket"`` keeps the protocol the shipped models were
trained with.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from pymatgen.analysis.eos import EOS, EOSError
from pymatgen.core import Structure
from scipy.optimize import curve_fit

from bulkmod.data.symmetry import primitive_cell
from bulkmod.errors import BulkmodError
from bulkmod.physics.potentials import Potential, StrainJob
from bulkmod.progress import progress_bar

# flag codes are stored in the feature cache: append only
FLAGS = ("ok", "not-bracketed", "non-convex", "k0<=0", "fit-failed", "potential-error", "k-prime-fixed", "too-large",
         "unsupported-element", "relax-failed", "ions-not-relaxed")  # fmt: skip
USABLE = ("ok", "k-prime-fixed")  # a K₀ the zero-shot model reports
EV_PER_A3_TO_GPA = 160.21766
K_PRIME_RANGE = (0.0, 30.0)  # outside this the fit is a numerical artefact, not a material property
# K′ of real solids lies between about 3 and 7 (molecular and layered crystals reach 8-10); a free fit outside
# this window is the scan's noise, not the material
K_PRIME_PHYSICAL = (2.0, 10.0)
CENTRES = ("bracket", "equilibrium")
# how K is read from the potential: this module's clamped scan, or the slower routes of physics/protocols.py
PROTOCOLS = ("clamped", "harmonic-ions", "relaxed", "elastic")
EQUILIBRIUM_ROUNDS = 4  # at most, after bracketing; most crystals converge in two
V0_TOLERANCE = 1e-3  # relative move of V₀ between rounds that counts as converged
CHUNK = 48  # crystals per scan round; the potential splits each round's copies into batches it can hold
# CHGNet takes ~1.8 s and ~2 GB per copy of a 500-atom cell
# (benchmarks/results/chgnet_large_cell/chgnet_large_cell_exploration.json), so a re-centred 7-point scan costs
# ~13-60 s: larger cells are flagged, not scanned
# (the largest crystal in mp-binary-2025 has 80 sites, in elastic-2015 152)
MAX_SCAN_ATOMS = 200


@dataclass(frozen=True)
class ScanConfig:
    """How an E–V scan samples the curve and reads K, kept in one place so cached features record it.

    ``max_recentre=0`` is the plain fixed-window scan; ``centre`` picks where it sits (module docstring);
    ``protocol`` other than ``clamped`` reads K by a route of :mod:`bulkmod.physics.protocols` (``harmonic-ions``
    uses every setting, for its clamped scan; ``relaxed`` ``points`` and ``half_width``; ``elastic`` none).
    """

    points: int = 7
    half_width: float = 0.06
    max_recentre: int = 4
    centre: str = "bracket"
    protocol: str = "clamped"

    def __post_init__(self) -> None:
        if self.points < 5 or not 0 < self.half_width < 0.3 or self.max_recentre < 0:
            raise BulkmodError("EOS scan needs points >= 5, 0 < half_width < 0.3 and max_recentre >= 0")
        if self.centre not in CENTRES:
            raise BulkmodError(f"EOS scan centre {self.centre!r}: use {' or '.join(CENTRES)}")
        if self.protocol not in PROTOCOLS:
            raise BulkmodError(f"K protocol {self.protocol!r}: use {', '.join(PROTOCOLS)}")

    @property
    def k_prime_window(self) -> tuple[float, float]:
        return K_PRIME_PHYSICAL if self.centre == "equilibrium" else K_PRIME_RANGE

    def as_dict(self) -> dict:
        """The settings, leaving out the newer ones while they keep their original values.

        ``centre`` and ``protocol`` only when they are not the original ones, so feature-cache keys and the manifests
        of models trained before they existed stay valid.
        """
        d = asdict(self)
        for name, original in (("centre", "bracket"), ("protocol", "clamped")):
            if d[name] == original:
                del d[name]
        return d


@dataclass(frozen=True)
class EOSResult:
    """K₀ in GPa, V₀ relative to the input volume, E₀ in eV/atom, rms fit residual in meV/atom."""

    k0_gpa: float
    k_prime: float
    v0_ratio: float
    e0_ev_atom: float
    residual_mev: float
    flag: str
    n_scans: int

    @property
    def usable(self) -> bool:
        return self.flag in USABLE

    def as_vector(self) -> np.ndarray:
        vals = (self.k0_gpa, self.k_prime, self.v0_ratio, self.e0_ev_atom, self.residual_mev)
        return np.array([*vals, FLAGS.index(self.flag), self.n_scans], dtype=float)

    @classmethod
    def from_vector(cls, v: np.ndarray) -> EOSResult:
        return cls(*map(float, v[:5]), flag=FLAGS[int(v[5])], n_scans=int(v[6]))

    @classmethod
    def failed(cls, flag: str, n_scans: int = 0, v0_ratio: float = np.nan) -> EOSResult:
        return cls(np.nan, np.nan, v0_ratio, np.nan, np.nan, flag, n_scans)


def _bm_energy(v: np.ndarray, e0: float, b0: float, v0: float, b1: float = 4.0) -> np.ndarray:
    """Birch–Murnaghan E(V); ``b0`` in eV/Å³."""
    x = (v0 / v) ** (2 / 3) - 1
    return e0 + 9 * v0 * b0 / 16 * (x**3 * b1 + x**2 * (6 - 4 * (x + 1)))


def _fixed_kprime_fit(vols: np.ndarray, energies: np.ndarray, guess: tuple[float, float, float]) -> tuple:
    """Birch–Murnaghan with K′ = 4, for curves that pin K₀ but not K′.

    Energies from a potential are too noisy over ±6 % to pin K′ for stiff crystals (the free fit then returns
    K′ < 0 with a tiny residual), but they still pin K₀.
    """
    params, _ = curve_fit(_bm_energy, vols, energies, p0=guess, maxfev=2000)
    return params


def fit_birch_murnaghan(
    volume_ratios: np.ndarray,
    energies: np.ndarray,
    volume_per_atom: float,
    n_scans: int,
    k_prime_window: tuple[float, float] = K_PRIME_RANGE,
) -> EOSResult:
    """Fit E(V) per atom, flagging every fit whose K₀ is not a clean number rather than returning it silently.

    Flags non-convex curves, failed fits, K₀ ≤ 0, and a K′ outside ``k_prime_window`` (refitted with K′ fixed at 4).
    """
    if not np.isfinite(energies).all():
        return EOSResult.failed("potential-error", n_scans)
    e_min_ratio = float(volume_ratios[np.argmin(energies)])
    if np.polyfit(volume_ratios, energies, 2)[0] <= 0:
        return EOSResult.failed("non-convex", n_scans, e_min_ratio)
    vols = volume_ratios * volume_per_atom
    flag = "not-bracketed" if int(np.argmin(energies)) in (0, len(energies) - 1) else "ok"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = EOS("birch_murnaghan").fit(vols, energies)
            e0, b0, b1, v0 = (float(p) for p in fit.eos_params)
            if not k_prime_window[0] < b1 < k_prime_window[1]:
                e0, b0, v0 = _fixed_kprime_fit(vols, energies, (e0, max(b0, 1e-3), v0))
                b1 = 4.0
                flag = "k-prime-fixed" if flag == "ok" else flag
    except (EOSError, ValueError, RuntimeError, np.linalg.LinAlgError):
        return EOSResult.failed("fit-failed", n_scans, e_min_ratio)
    k0 = b0 * EV_PER_A3_TO_GPA
    if not np.isfinite(k0) or k0 <= 0:
        return EOSResult.failed("k0<=0", n_scans, e_min_ratio)
    residual = float(np.sqrt(np.mean((_bm_energy(vols, e0, b0, v0, b1) - energies) ** 2)) * 1e3)
    return EOSResult(k0, b1, v0 / volume_per_atom, e0, residual, flag, n_scans)


def unscannable(structure: Structure, potential: Potential) -> str | None:
    """Why no protocol may hand this crystal to the potential, as its flag; None if it may.

    An element the potential lacks, or a cell over ``MAX_SCAN_ATOMS`` (checked in that order).
    """
    if potential.unsupported(structure):
        return "unsupported-element"
    return "too-large" if len(structure) > MAX_SCAN_ATOMS else None


def _energies_isolating_failures(potential: Potential, jobs: list[StrainJob]) -> np.ndarray:
    """One batched call, a row of energies per crystal.

    If the batch fails, crystal by crystal, so one bad input costs only its own row.
    """
    try:
        return potential.strained_energies(jobs).reshape(len(jobs), -1)
    except BulkmodError:
        out = np.full((len(jobs), len(jobs[0][1]) if jobs else 0), np.nan)
        for row, job in enumerate(jobs):
            with contextlib.suppress(BulkmodError):  # stays NaN -> "potential-error"
                out[row] = potential.strained_energies([job])
        return out


def scan_chunk(structures: list[Structure], potential: Potential, cfg: ScanConfig) -> list[EOSResult]:
    """Bracketed, re-centred E–V scans of a few crystals, each round one batched call, each on its primitive cell."""
    structures = [primitive_cell(s) for s in structures]
    grid = 1.0 + np.linspace(-cfg.half_width, cfg.half_width, cfg.points)
    centre = np.ones(len(structures))
    last: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
    refused = {i: flag for i, s in enumerate(structures) if (flag := unscannable(s, potential))}
    active = [i for i in range(len(structures)) if i not in refused]
    for round_ in range(cfg.max_recentre + 1):
        if not active:
            break
        ratios = {i: centre[i] * grid for i in active}
        energies = _energies_isolating_failures(potential, [(structures[i], ratios[i]) for i in active])
        again = []
        for row, i in enumerate(active):
            last[i] = (ratios[i], energies[row], round_ + 1)
            k = int(np.argmin(energies[row])) if np.isfinite(energies[row]).all() else -1
            if k in (0, cfg.points - 1) and round_ < cfg.max_recentre:
                centre[i] = ratios[i][k]
                again.append(i)
        active = again
    window = cfg.k_prime_window
    fits = {i: fit_birch_murnaghan(*last[i][:2], structures[i].volume / len(structures[i]), last[i][2], window)
            for i in last}  # fmt: skip
    if cfg.centre == "equilibrium":
        fits = _rescan_at_equilibrium(structures, potential, cfg, grid, fits)
    return [fits[i] if i in fits else EOSResult.failed(refused[i]) for i in range(len(structures))]


def _rescan_at_equilibrium(
    structures: list[Structure], potential: Potential, cfg: ScanConfig, grid: np.ndarray, fits: dict[int, EOSResult]
) -> dict[int, EOSResult]:
    """Re-centre each usable fit on its own V₀ until it stops moving, so K does not depend on the input cell.

    ``fits`` with each usable one replaced by the fit of rounds symmetric around its V₀, each fitted on its own,
    repeated until V₀ moves less than ``V0_TOLERANCE``.

    One round is not enough: the bracketing round's V₀ is biased by where its window sat, and a window centred
    on a biased V₀ gives a K that still depends on the input cell; a self-consistent centre does not.
    """
    fits = dict(fits)
    todo = [i for i, r in fits.items() if r.flag in USABLE and np.isfinite(r.v0_ratio)]
    for _ in range(EQUILIBRIUM_ROUNDS):
        if not todo:
            break
        energies = _energies_isolating_failures(potential, [(structures[i], fits[i].v0_ratio * grid) for i in todo])
        again = []
        for row, i in enumerate(todo):
            previous, per_atom = fits[i], structures[i].volume / len(structures[i])
            fits[i] = fit_birch_murnaghan(
                previous.v0_ratio * grid, energies[row], per_atom, previous.n_scans + 1, cfg.k_prime_window
            )
            if fits[i].flag in USABLE and abs(fits[i].v0_ratio / previous.v0_ratio - 1) > V0_TOLERANCE:
                again.append(i)
        todo = again
    return fits


def scan_eos(
    structures: list[Structure], potential: Potential, cfg: ScanConfig | None = None, *, progress: bool = True
) -> list[EOSResult]:
    """E–V scans of ``structures``, ``CHUNK`` crystals per batched round, with a progress bar over the chunks."""
    cfg = cfg or ScanConfig()
    out: list[EOSResult] = []
    chunks = range(0, len(structures), CHUNK)
    for start in progress_bar(chunks, f"E-V scans ({potential.name})", unit="chunk", min_items=3, show=progress):
        out += scan_chunk(structures[start : start + CHUNK], potential, cfg)
    return out
