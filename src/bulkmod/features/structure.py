"""Structure descriptors named by the original analysis, computed from one neighbour list per crystal.

One call to pymatgen's C neighbour search (``get_neighbor_list``) feeds every block: coordination,
bond lengths and angles, packing, size mismatch and electronegativity differences. matminer computes
the same quantities with separate Voronoi tessellations per featurizer, which is what makes it slow.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

from bulkmod.data.neighbours import periodic_neighbours
from bulkmod.data.validate import ISOLATION_RADIUS_A, NEIGHBOR_RADIUS_A, max_neighbors_cap
from bulkmod.errors import BulkmodError
from bulkmod.features.elements import (
    MAGPIE_PROPS,
    electronegativity_table,
    magpie_table,
    mass_table,
    radius_table,
)

CUTOFF_A = NEIGHBOR_RADIUS_A
MAX_CUTOFF_A = ISOLATION_RADIUS_A
SHELL_TOL = 0.25  # first shell: neighbours within (1 + tol) x the nearest distance of that site
AVOGADRO = 6.02214076e23

STATS = ("mean", "std", "min", "max")
GROUP_NAMES: dict[str, list[str]] = {
    "density": ["volume_per_atom", "density_g_cm3", "volume_ratio_elemental", "log_n_sites"],
    "coordination": [f"cn_{s}" for s in STATS] + [f"econ_{s}" for s in STATS],
    "bonds": [f"bond_{s}" for s in STATS]
    + [f"bond_rel_radii_{s}" for s in STATS]
    + ["bond_heterogeneity"]
    + [f"angle_{s}" for s in STATS]
    + ["angle_site_std_mean"],
    "packing": ["packing_fraction", "packing_fraction_covalent", "radius_imputed"],
    "mismatch": ["size_mismatch", "en_diff_bond_mean", "en_diff_bond_max", "en_range", "en_std"],
}


def _stats(x: np.ndarray) -> list[float]:
    if len(x) == 0:
        return [np.nan] * 4
    return [float(x.mean()), float(x.std()), float(x.min()), float(x.max())]


def _neighbors(structure: Structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, neighbour indices and bond vectors, every site connected (:func:`periodic_neighbours`)."""
    nb = periodic_neighbours(structure, CUTOFF_A, MAX_CUTOFF_A)
    cap = max_neighbors_cap()  # validation refused denser cells; this guards callers that skip it
    if len(nb.centers) > cap * len(structure):
        raise BulkmodError(
            f"{len(nb.centers) / len(structure):.0f} neighbours per atom within {nb.radius:.1f} A exceeds the cap of "
            f"{cap} (unphysically dense?); raise it with BULKMOD_MAX_NEIGHBORS"
        )
    return nb.centers, nb.nbrs, nb.vecs


def _econ(lengths: np.ndarray) -> float:
    """Hoppe's effective coordination number: a smooth, cut-off-free count of the first shell."""
    lav = lengths.min()
    for _ in range(3):
        w = np.exp(1 - (lengths / lav) ** 6)
        lav = float((lengths * w).sum() / w.sum())
    return float(np.exp(1 - (lengths / lav) ** 6).sum())


def structure_features(
    structure: Structure, groups: tuple[str, ...], shell_tol: float = SHELL_TOL
) -> dict[str, np.ndarray]:
    """One row per requested group for one crystal."""
    z = np.array([site.specie.Z for site in structure])
    n = len(z)
    radii_tab, imputed_tab = radius_table()
    radii = radii_tab[z]
    chi = electronegativity_table()[z]
    out: dict[str, np.ndarray] = {}
    volume = structure.volume
    if "density" in groups:
        gs_vol = magpie_table()[:, MAGPIE_PROPS.index("GSvolume_pa")][z].mean()
        mass = mass_table()[z].sum()
        out["density"] = np.array([volume / n, mass / AVOGADRO / (volume * 1e-24), (volume / n) / gs_vol, np.log(n)])
    if "packing" in groups:
        cov = magpie_table()[:, MAGPIE_PROPS.index("CovalentRadius")][z] / 100.0
        sphere = 4.0 / 3.0 * np.pi
        out["packing"] = np.array(
            [sphere * (radii**3).sum() / volume, sphere * (cov**3).sum() / volume, float(imputed_tab[z].any())]
        )
    if "mismatch" in groups:
        rbar = radii.mean()
        delta = float(np.sqrt(np.mean((1 - radii / rbar) ** 2)))
    need_shell = any(g in groups for g in ("coordination", "bonds", "mismatch"))
    if not need_shell:
        return out
    centers, nbrs, vecs = _neighbors(structure)
    dists = np.linalg.norm(vecs, axis=1)
    dmin = np.full(n, np.inf)
    np.minimum.at(dmin, centers, dists)
    shell = dists <= dmin[centers] * (1 + shell_tol)
    sc, sn, sv, sd = centers[shell], nbrs[shell], vecs[shell], dists[shell]
    if "coordination" in groups:
        cn_strict = np.bincount(centers[dists <= dmin[centers] * 1.1], minlength=n)
        econ = np.array([_econ(dists[centers == i]) for i in range(n)])
        out["coordination"] = np.array(_stats(cn_strict.astype(float)) + _stats(econ))
    if "bonds" in groups:
        rel = sd / (radii[sc] + radii[sn])
        hetero, angles, site_std = [], [], []
        for i in range(n):
            m = sc == i
            li, vi = sd[m], sv[m]
            hetero.append(li.std() / li.mean())
            if len(vi) >= 2:
                unit = vi / li[:, None]
                cos = np.clip(unit @ unit.T, -1.0, 1.0)
                iu = np.triu_indices(len(vi), k=1)
                ang = np.degrees(np.arccos(cos[iu]))
                angles.append(ang)
                site_std.append(ang.std())
        all_ang = np.concatenate(angles) if angles else np.empty(0)
        out["bonds"] = np.array(
            _stats(dmin)
            + _stats(rel)
            + [float(np.mean(hetero))]
            + _stats(all_ang)
            + [float(np.mean(site_std)) if site_std else np.nan]
        )
    if "mismatch" in groups:
        dchi = np.abs(chi[sc] - chi[sn])
        out["mismatch"] = np.array([delta, dchi.mean(), dchi.max(), chi.max() - chi.min(), chi.std()])
    return out
