"""Crystal graph construction on real and hand-made crystals: periodic images, ties, isolated atoms, cache."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from bulkmod.errors import BulkmodError
from bulkmod.graphs import ATOM_FEATURE_DIM, GraphCache, GraphConfig, atom_feature_table, build_graph, to_data
from bulkmod.graphs.atoms import BLOCKS


def _edges(structure: Structure, cfg: GraphConfig) -> list[tuple[int, int, float]]:
    """The graph as a multiset of (Z centre, Z neighbour, distance): independent of site order."""
    g = build_graph(structure, cfg)
    z = g["z"]
    return sorted(
        (int(z[c]), int(z[n]), round(float(d), 4)) for n, c, d in zip(*g["edge_index"], g["dist"], strict=True)
    )


def test_atom_features_are_one_hot_per_block():
    table = atom_feature_table()
    assert table.shape[1] == ATOM_FEATURE_DIM == sum(n for _, n in BLOCKS)
    assert ATOM_FEATURE_DIM != 92  # deliberately not the legacy encoding (see models.gnn.legacy)
    assert np.all(table[0] == 0)
    assert np.all(table[1:95].sum(axis=1) == len(BLOCKS))  # every element up to Pu: one hot in every block
    assert len({tuple(row) for row in table[1:95]}) > 90  # elements are distinguishable


def test_periodic_images_of_a_single_atom():
    a = 3.0
    s = Structure(Lattice.cubic(a), ["Po"], [[0, 0, 0]])
    g = build_graph(s, GraphConfig())
    assert np.all(g["edge_index"] == 0)  # every neighbour is an image of the one site
    d = np.sort(g["dist"])
    # 6 faces at a, then the 12 edge-centres at a*sqrt(2): the 12-neighbour limit falls inside that shell,
    # so the whole tied shell is kept (6 + 12), never an arbitrary part of it
    assert len(d) == 18
    np.testing.assert_allclose(d[:6], a)
    np.testing.assert_allclose(d[6:], a * np.sqrt(2))


def test_max_neighbors_and_cutoff_on_real_crystals(mp_small):
    cfg = GraphConfig()
    for s in mp_small.structures[:40]:
        g = build_graph(s, cfg)
        counts = np.bincount(g["edge_index"][1], minlength=len(s))
        assert counts.min() >= 1
        assert g["dist"].max() <= cfg.cutoff + 1e-9 or counts.max() <= cfg.max_neighbors
        for c in range(len(s)):
            d = np.sort(g["dist"][g["edge_index"][1] == c])
            if len(d) > cfg.max_neighbors:  # only ties with the 12th neighbour may exceed the limit
                assert d[-1] - d[cfg.max_neighbors - 1] <= 1e-3


def test_permuting_sites_gives_the_same_graph(mp_small):
    cfg = GraphConfig(angles=True)
    s = next(s for s in mp_small.structures if len(s) >= 6)
    perm = np.random.default_rng(0).permutation(len(s))
    shuffled = Structure.from_sites([s[i] for i in perm])
    assert _edges(s, cfg) == _edges(shuffled, cfg)


def test_supercell_has_the_same_local_environments(mp_small):
    cfg = GraphConfig()
    s = next(s for s in mp_small.structures if len(s) >= 3)
    big = s.copy()
    big.make_supercell([2, 2, 2])
    small_edges, big_edges = _edges(s, cfg), _edges(big, cfg)
    assert len(big_edges) == 8 * len(small_edges)
    assert sorted(set(small_edges)) == sorted(set(big_edges))


def test_isolated_atom_grows_the_radius_then_errors():
    near = Structure(Lattice.cubic(10.0), ["Na"], [[0, 0, 0]])  # nothing within 8 A; images at 10 A
    g = build_graph(near, GraphConfig())
    np.testing.assert_allclose(g["dist"], 10.0)
    far = Structure(Lattice.cubic(30.0), ["Na"], [[0, 0, 0]])
    with pytest.raises(BulkmodError, match=r"no neighbour within 16\.0 A"):
        build_graph(far, GraphConfig())


def test_to_data_gaussian_and_angle_features():
    s = Structure(Lattice.cubic(3.0), ["Po"], [[0, 0, 0]])
    cfg = GraphConfig(angles=True)
    data = to_data(build_graph(s, cfg), cfg)
    assert data.x.shape == (1, ATOM_FEATURE_DIM)
    assert data.edge_attr.shape == (18, 41 + cfg.angle_bins) == (18, cfg.edge_dim)
    nearest = int(data.edge_weight.argmin())
    assert int(data.edge_attr[nearest, :41].argmax()) == 15  # the Gaussian centred at 3.0 A
    assert np.all(data.edge_attr[:, 41:].numpy() > 0)


def test_graph_cache_roundtrip_and_corrupt_entry(tmp_path, mp_small):
    cfg = GraphConfig()
    s = mp_small.structures[0]
    cache = GraphCache(cfg, root=tmp_path)
    first = cache.get(s)
    path = cache.path(s)
    assert path.exists()
    assert not list(path.parent.glob("*.tmp*"))
    again = cache.get(s)
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
    assert GraphCache(GraphConfig(cutoff=6.0), root=tmp_path).path(s) != path  # config is part of the key
    path.write_bytes(b"not an npz")
    np.testing.assert_array_equal(cache.get(s)["dist"], first["dist"])


def test_invalid_config():
    with pytest.raises(BulkmodError):
        GraphConfig(cutoff=20.0, max_cutoff=16.0)
