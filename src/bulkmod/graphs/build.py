"""Periodic crystal graphs: radius + max-neighbour edges (as CGCNN), cached on disk per structure.

Edges come from ``Structure.get_neighbor_list`` so every periodic image inside the cut-off counts
(an atom may bond to its own image). A site keeps its ``max_neighbors`` nearest neighbours *plus any
tied with the last one*: truncating inside a shell of equal distances would make the graph depend on
the order of the sites, and a supercell would then not give the same prediction as its primitive cell.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Structure
from torch_geometric.data import Data

from bulkmod.data.neighbours import periodic_neighbours
from bulkmod.data.validate import structure_hash
from bulkmod.errors import BulkmodError
from bulkmod.graphs.atoms import atom_feature_table
from bulkmod.io import atomic_path, cache_dir, sha256_json
from bulkmod.progress import progress_bar

GRAPH_VERSION = "1"  # bump when the construction below changes: old cache entries are then ignored
TIE_TOL = 1e-3  # Angstrom: neighbours this close to the last kept one are in the same shell


@dataclass(frozen=True)
class GraphConfig:
    """How a structure becomes a graph. Saved in every graph model's manifest."""

    cutoff: float = 8.0
    max_neighbors: int = 12
    max_cutoff: float = 16.0  # an atom with no neighbour grows the radius up to here, then it is an error
    gaussian_step: float = 0.2  # CGCNN: centres 0, 0.2, ..., cutoff and width 0.2 -> 41 edge features
    angles: bool = False
    angle_bins: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.cutoff <= self.max_cutoff or self.max_neighbors < 1:
            raise BulkmodError(f"invalid graph settings {self}: need 0 < cutoff <= max_cutoff and max_neighbors >= 1")

    @property
    def edge_dim(self) -> int:
        return len(self.gaussian_centers()) + (self.angle_bins if self.angles else 0)

    def gaussian_centers(self) -> np.ndarray:
        return np.arange(0.0, self.cutoff + 1e-9, self.gaussian_step)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> GraphConfig:
        return cls(**(d or {}))


def _truncate(centers: np.ndarray, dists: np.ndarray, k: int) -> np.ndarray:
    """Indices of edges kept: per centre the k nearest, plus ties with the k-th; sorted by (centre, distance)."""
    order = np.lexsort((dists, centers))
    c, d = centers[order], dists[order]
    starts = np.searchsorted(c, c, side="left")
    rank = np.arange(len(c)) - starts
    counts = np.bincount(c)
    kth_pos = np.searchsorted(c, np.arange(len(counts))) + np.minimum(counts, k) - 1
    kth = d[kth_pos]
    return order[(rank < k) | (d <= kth[c] + TIE_TOL)]


def _angle_features(centers: np.ndarray, vecs: np.ndarray, n_bins: int) -> np.ndarray:
    """Per edge i<-j: the mean over the other edges i<-k of a Gaussian expansion of cos(angle jik).

    A triplet descriptor folded onto the edges, so message passing sees bond angles without a line graph.
    """
    out = np.zeros((len(centers), n_bins))
    mu = np.linspace(-1.0, 1.0, n_bins)
    width = 2.0 / (n_bins - 1)
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    for c in np.unique(centers):
        idx = np.flatnonzero(centers == c)
        if len(idx) < 2:
            continue
        cos = np.clip(unit[idx] @ unit[idx].T, -1.0, 1.0)
        g = np.exp(-(((cos[..., None] - mu) / width) ** 2))
        g[np.arange(len(idx)), np.arange(len(idx))] = 0.0
        out[idx] = g.sum(axis=1) / (len(idx) - 1)
    return out


def build_graph(structure: Structure, cfg: GraphConfig) -> dict[str, np.ndarray]:
    """Arrays of one crystal graph: ``z``, ``edge_index`` (2, E) as [neighbour, centre], ``dist``, ``angle``."""
    nb = periodic_neighbours(structure, cfg.cutoff, cfg.max_cutoff)
    centers, nbrs, dists, vecs = nb.centers, nb.nbrs, nb.dists, nb.vecs
    keep = _truncate(centers, dists, cfg.max_neighbors)
    centers, nbrs, dists, vecs = centers[keep], nbrs[keep], dists[keep], vecs[keep]
    graph = {
        "z": np.array([site.specie.Z for site in structure], dtype=np.int64),
        "edge_index": np.stack([nbrs, centers]).astype(np.int64),
        "dist": dists.astype(np.float64),
    }
    if cfg.angles:
        graph["angle"] = _angle_features(centers, vecs, cfg.angle_bins)
    return graph


class GraphCache:
    """One ``.npz`` per (structure, graph config, code version), written atomically; no pickles."""

    def __init__(self, cfg: GraphConfig, root: Path | None = None) -> None:
        self.cfg = cfg
        self.root = root or cache_dir("graphs")
        self.tag = sha256_json({"cfg": cfg.as_dict(), "v": GRAPH_VERSION})[:12]

    def path(self, structure: Structure) -> Path:
        h = structure_hash(structure)
        return self.root / self.tag / h[:2] / f"{h}.npz"

    def get(self, structure: Structure) -> dict[str, np.ndarray]:
        path = self.path(structure)
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as f:
                    return {k: f[k] for k in f.files}
            except (OSError, ValueError):
                pass  # unreadable entry: rebuild and overwrite it
        graph = build_graph(structure, self.cfg)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **graph)
        return graph


def build_graphs(
    structures: list[Structure], cfg: GraphConfig, *, cache: bool = True
) -> tuple[list[dict[str, np.ndarray] | None], dict[int, str]]:
    """Graphs in input order (None where it failed) and the one-line reason per failed row."""
    store = GraphCache(cfg) if cache else None
    graphs: list[dict[str, np.ndarray] | None] = []
    errors: dict[int, str] = {}
    for i, s in enumerate(progress_bar(structures, "crystal graphs", unit="crystal", min_items=500)):
        try:
            graphs.append(store.get(s) if store else build_graph(s, cfg))
        except BulkmodError as exc:
            graphs.append(None)
            errors[i] = str(exc)
    return graphs, errors


def to_data(graph: dict[str, np.ndarray], cfg: GraphConfig) -> Data:
    """A torch-geometric ``Data``: one-hot atom features ``x``, Gaussian-expanded ``edge_attr``, ``edge_weight``."""
    dist = torch.from_numpy(graph["dist"]).float()
    mu = torch.from_numpy(cfg.gaussian_centers()).float()
    edge_attr = torch.exp(-(((dist[:, None] - mu) / cfg.gaussian_step) ** 2))
    if cfg.angles:
        edge_attr = torch.cat([edge_attr, torch.from_numpy(graph["angle"]).float()], dim=1)
    x = torch.from_numpy(atom_feature_table()[graph["z"]])
    return Data(
        x=x,
        edge_index=torch.from_numpy(graph["edge_index"]),
        edge_attr=edge_attr,
        edge_weight=dist,
        num_nodes=len(graph["z"]),
    )
