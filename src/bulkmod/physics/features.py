"""Potential-derived descriptors, cached on disk by (potential version, scan config, structure hash).

The cache is written after every chunk, so a killed batch over thousands of crystals resumes where it
stopped. Features: log10 K₀, K′, V₀/V, E₀, log10 fit residual, a flagged indicator; how hard a strain pushes the
ions (log10, :mod:`bulkmod.physics.internal_strain`), which tells a model where the clamped K is too stiff; and
(CHGNet) the 64-d crystal embedding of the input structure.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pymatgen.core import Structure

from bulkmod.data.cache import cached_vectors
from bulkmod.errors import BulkmodError
from bulkmod.io import sha256_json
from bulkmod.physics.eos import CHUNK, EOSResult, ScanConfig
from bulkmod.physics.internal_strain import (
    DISPLACEMENT,
    HELD_BY_SYMMETRY,
    MAX_FORCE_ATOMS,
    STRAIN,
    ion_relaxation_softening,
    ion_strain_force,
)
from bulkmod.physics.potentials import NO_EMBEDDING, POTENTIALS, Potential, get_potential
from bulkmod.physics.protocols import ions_relaxed, k_results

ION_NAMES = ["umlip_log10_ion_strain_force"]
RELAXED_NAMES = ["umlip_log10_k_ions_relaxed"]
ION_FLOOR = 1e-4  # eV/Å added before the log: a crystal whose ions symmetry holds has a push of zero
EOS_NAMES = ["umlip_log10_k0", "umlip_k_prime", "umlip_v0_ratio", "umlip_e0", "umlip_log10_residual", "umlip_flagged"]
BLOCK = 4 * CHUNK  # crystals per cache write
SLOW_BLOCK = 8  # the relaxing protocols take seconds per crystal: write more often, lose less to a kill


def _cached(
    kind: str, structures: list[Structure], tag: str, compute, width: int, progress: bool, block: int = BLOCK
) -> np.ndarray:
    """``kind`` vectors by structure hash; ``compute(batch)`` gives those of a batch of structures, in order."""

    def rows(todo: list[int]) -> list[dict[str, np.ndarray]]:
        return [{kind: vec} for vec in compute([structures[i] for i in todo])]

    found = cached_vectors(
        "physics.sqlite", structures, tag, {kind: width}, rows, block=block, desc=kind, progress=progress
    )
    return found[kind]


def eos_results(
    structures: list[Structure], potential: str = "chgnet", cfg: ScanConfig | None = None, *, progress: bool = True
) -> list[EOSResult]:
    """E–V fits (or the K of ``cfg.protocol``) for many crystals, from cache where possible."""
    cfg = cfg or ScanConfig()
    if cfg.protocol == "harmonic-ions":  # two caches: the clamped scan's, and the softening's
        clamped = eos_results(structures, potential, replace(cfg, protocol="clamped"), progress=progress)
        softening = ion_softenings(structures, potential, progress=progress)
        return [ions_relaxed(r, s) for r, s in zip(clamped, softening, strict=True)]
    pot = get_potential(potential)
    tag = f"{pot.version}|{sha256_json(cfg.as_dict())[:10]}"

    def compute(batch: list[Structure]) -> list[np.ndarray]:
        return [r.as_vector() for r in k_results(batch, pot, cfg)]

    width = len(EOSResult.failed("ok").as_vector())
    block = BLOCK if cfg.protocol == "clamped" else SLOW_BLOCK
    return [EOSResult.from_vector(v) for v in _cached("eos", structures, tag, compute, width, progress, block)]


def ion_softenings(structures: list[Structure], potential: str = "chgnet", *, progress: bool = True) -> np.ndarray:
    """Each crystal's harmonic softening of K by its ions' relaxation (GPa; NaN where none), cached."""
    pot = get_potential(potential)

    def compute(batch: list[Structure]) -> list[np.ndarray]:
        return [np.array([ion_relaxation_softening(s, pot).softening_gpa]) for s in batch]

    tag = f"{pot.version}|{STRAIN}|{HELD_BY_SYMMETRY}|{MAX_FORCE_ATOMS}|{DISPLACEMENT}"
    return _cached("softening", structures, tag, compute, 1, progress, SLOW_BLOCK)[:, 0]


def relaxed_ion_features(
    structures: list[Structure], potential: str = "chgnet", cfg: ScanConfig | None = None, *, progress: bool = True
) -> np.ndarray:
    """(n, 1) log10 of the clamped scan's K less the ions' harmonic softening (``protocol=harmonic-ions``).

    The scan sits where ``cfg`` says (its protocol is replaced); NaN where either part has no number.
    """
    cfg = replace(cfg or ScanConfig(), protocol="harmonic-ions")
    k = np.array([r.k0_gpa if r.usable else np.nan for r in eos_results(structures, potential, cfg, progress=progress)])
    return np.log10(k).reshape(-1, 1)


def eos_features(
    structures: list[Structure], potential: str = "chgnet", cfg: ScanConfig | None = None, *, progress: bool = True
) -> np.ndarray:
    """(n, 6) matrix in ``EOS_NAMES`` order; a flagged fit keeps its numbers (NaN where none) and says so."""
    rows = []
    for r in eos_results(structures, potential, cfg, progress=progress):
        k0 = np.log10(r.k0_gpa) if r.k0_gpa > 0 else np.nan
        res = np.log10(max(r.residual_mev, 1e-4)) if np.isfinite(r.residual_mev) else np.nan
        rows.append([k0, r.k_prime, r.v0_ratio, r.e0_ev_atom, res, float(not r.usable)])
    return np.array(rows, dtype=float).reshape(len(rows), len(EOS_NAMES))


def ion_strain_features(structures: list[Structure], potential: str = "chgnet", *, progress: bool = True) -> np.ndarray:
    """(n, 1) log10 of each crystal's ion strain force (``ION_NAMES``); NaN where the potential gives none."""
    pot = get_potential(potential)

    def compute(batch: list[Structure]) -> list[np.ndarray]:
        return [np.array([ion_strain_force(s, pot)]) for s in batch]

    tag = f"{pot.version}|{STRAIN}|{HELD_BY_SYMMETRY}|{MAX_FORCE_ATOMS}"
    force = _cached("ions", structures, tag, compute, 1, progress)
    return np.log10(force + ION_FLOOR)


def embedding_names(potential: str = "chgnet") -> list[str]:
    """Column names of :func:`embedding_features` for ``potential``, one per embedding dimension."""
    return [f"{potential}_emb_{i}" for i in range(POTENTIALS[potential].embedding_size)]


def embedding_features(structures: list[Structure], potential: str = "chgnet", *, progress: bool = True) -> np.ndarray:
    """The potential's crystal embedding of each input structure (CHGNet: 64-d)."""
    pot = get_potential(potential)
    if not pot.embedding_size:
        raise BulkmodError(NO_EMBEDDING.format(potential))

    def compute(batch: list[Structure]) -> list[np.ndarray]:
        try:
            return list(pot.embeddings(batch))
        except BulkmodError:  # one crystal the potential cannot take must not cost the whole block
            return [_one_embedding(pot, s) for s in batch]

    return _cached("embed", structures, pot.version, compute, pot.embedding_size, progress)


def _one_embedding(pot: Potential, structure: Structure) -> np.ndarray:
    try:
        return pot.embeddings([structure])[0]
    except BulkmodError:
        return np.full(pot.embedding_size, np.nan)
