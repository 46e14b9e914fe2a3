"""The structure-keyed vector cache the descriptors and the E–V/embedding features share."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from bulkmod.data.cache import cached_vectors
from bulkmod.data.validate import structure_hash
from bulkmod.io import VectorCache


def _structures() -> list[Structure]:
    return [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]) for a in (4.0, 4.5, 5.0)]


def test_existing_entries_hit_under_the_kind_tag_hash_key(tmp_path, monkeypatch) -> None:
    """A cache written before the helper existed (key ``kind|tag|structure hash``) must still be read."""
    monkeypatch.setenv("BULKMOD_CACHE", str(tmp_path))
    structures = _structures()
    VectorCache(tmp_path / "t.sqlite").put_many({f"a|v1|{structure_hash(structures[0])}": np.array([7.0, 8.0])})
    asked: list[list[int]] = []

    def compute(rows: list[int]) -> list[dict[str, np.ndarray]]:
        asked.append(rows)
        return [{"a": np.array([i, -i], dtype=float)} if i != 2 else {} for i in rows]

    out = cached_vectors("t.sqlite", structures, "v1", {"a": 2}, compute, block=1, desc="t")
    assert asked == [[1], [2]]  # one block per write; the cached row is never recomputed
    np.testing.assert_array_equal(out["a"], [[7.0, 8.0], [1.0, -1.0], [np.nan, np.nan]])
    again = cached_vectors("t.sqlite", structures, "v1", {"a": 2}, compute, block=1, desc="t")
    assert asked[-1] == [2]  # only the row compute could not give is tried again
    np.testing.assert_array_equal(again["a"], out["a"])
