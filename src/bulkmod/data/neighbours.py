"""Periodic neighbour lists whose radius grows until every site has a neighbour.

Descriptors and crystal graphs both need every site connected: a fixed cut-off leaves the atoms of an open
framework or a large-cell intermetallic without bonds, and a site with none has no local environment to
describe. One helper, so both refuse the same inputs with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure

from bulkmod.errors import BulkmodError

GROWTH = 1.5  # radius factor per retry


@dataclass(frozen=True)
class Neighbours:
    """Directed pairs (centre, neighbour, periodic image) within ``radius``, with lengths and bond vectors (Å)."""

    centers: np.ndarray
    nbrs: np.ndarray
    images: np.ndarray
    dists: np.ndarray
    vecs: np.ndarray
    radius: float


def periodic_neighbours(structure: Structure, cutoff: float, max_cutoff: float) -> Neighbours:
    """Every periodic image within ``cutoff``, the radius grown (up to ``max_cutoff``) until no site is alone."""
    r = cutoff
    while True:
        centers, nbrs, images, dists = structure.get_neighbor_list(r)
        keep = dists > 1e-8  # a site is never its own neighbour
        centers, nbrs, images, dists = centers[keep], nbrs[keep], images[keep], dists[keep]
        if len(np.unique(centers)) == len(structure):
            break
        if r >= max_cutoff:
            lonely = sorted(set(range(len(structure))) - set(centers.tolist()))
            raise BulkmodError(
                f"site {lonely[0]} ({structure[lonely[0]].species_string}) has no neighbour within {max_cutoff} A: "
                "an isolated atom or a molecule in a large box"
            )
        r = min(r * GROWTH, max_cutoff)
    cart = structure.cart_coords
    vecs = cart[nbrs] + images @ structure.lattice.matrix - cart[centers]
    return Neighbours(centers, nbrs, images, dists, vecs, r)
