"""Vectors computed from a structure, cached by structure hash: one lookup for descriptors and E–V/embedding results.

The key is ``kind|tag|structure hash`` (``tag`` names the code and settings that made the vector), so a user's
existing cache keeps hitting as long as that format stays as it is. Missing vectors are computed block by block and
each block is written at once: a run that is killed keeps what it already paid for. It lives in ``data`` because
both ``physics`` and ``features`` (above it) use it and the structure hash is defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from pymatgen.core import Structure

from bulkmod.data.validate import structure_hash
from bulkmod.io import VectorCache, cache_dir
from bulkmod.progress import progress_bar

Compute = Callable[[list[int]], Iterable[dict[str, np.ndarray]]]


def cached_vectors(
    file: str,
    structures: Sequence[Structure],
    tag: str,
    widths: dict[str, int],
    compute: Compute,
    *,
    block: int,
    desc: str,
    progress: bool = True,
    quiet_below: int = 100,
) -> dict[str, np.ndarray]:
    """Per kind in ``widths``, a ``(len(structures), width)`` matrix from the cache file ``file`` where possible.

    ``compute(rows)`` gets the indices of the structures that miss any kind and yields, for each in order, its
    vectors by kind; a row it cannot compute yields ``{}`` and stays NaN. The bar is hidden for fewer than
    ``quiet_below`` crystals to compute, where it would only flicker.
    """
    cache = VectorCache(cache_dir() / file)
    hashes = [structure_hash(s) for s in structures]
    keys = {kind: [f"{kind}|{tag}|{h}" for h in hashes] for kind in widths}
    found = cache.get_many([k for ks in keys.values() for k in ks])
    todo = [i for i in range(len(hashes)) if any(keys[kind][i] not in found for kind in widths)]
    with progress_bar(desc=desc, total=len(todo), unit="crystal", min_items=quiet_below, show=progress) as bar:
        for start in range(0, len(todo), block):
            rows = todo[start : start + block]
            new: dict[str, np.ndarray] = {}
            for i, vectors in zip(rows, compute(rows), strict=True):
                new |= {keys[kind][i]: vec for kind, vec in vectors.items()}
                bar.update(1)
            cache.put_many(new)
            found |= new
    return {
        kind: np.array([found.get(k, np.full(width, np.nan)) for k in keys[kind]], dtype=float).reshape(-1, width)
        for kind, width in widths.items()
    }
