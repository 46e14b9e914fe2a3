"""Small file helpers shared by every subpackage: locations, hashing and atomic writes."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bulkmod.errors import BulkmodError

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir(sub: str = "") -> Path:
    """``$BULKMOD_CACHE`` or ``~/.cache/bulkmod``; never beside the (read-only) data."""
    root = Path(os.environ.get("BULKMOD_CACHE") or Path.home() / ".cache" / "bulkmod")
    path = root / sub if sub else root
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path:
    """Find the bundled benchmark data: ``$BULKMOD_DATA``, else ``shared/data`` beside the repo or cwd."""
    env = os.environ.get("BULKMOD_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for cand in candidates:
        if cand.is_dir():
            return cand
    raise BulkmodError(
        "benchmark data not found: set BULKMOD_DATA to the folder holding mp_elasticity_2025/, matbench/, ..."
    )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks so a large file never sits in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Stable hash of a JSON-able object (used for config and data hashes)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _temp_affixes(path: Path) -> tuple[str, str]:
    """The prefix and suffix mkstemp gets for ``path``'s temp files; its random middle never holds a dot."""
    return f".{path.name}.", f".tmp{path.suffix}"


def remove_stale_temps(path: Path | str) -> None:
    """Delete temp files that a process killed inside :func:`atomic_path` left beside ``path``.

    Only a SIGKILL skips its cleanup. Call it where a single writer owns ``path``, e.g. before a resumed
    training run.
    """
    path = Path(path)
    prefix, suffix = _temp_affixes(path)
    own = re.compile(f"{re.escape(prefix)}[^.]+{re.escape(suffix)}")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if own.fullmatch(stale.name):  # not the temps of a sibling whose name extends this one
            stale.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it over ``path`` only if the block succeeds.

    A killed process therefore never leaves a half-written model, cache or results file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temp name keeps the real extension: some writers (XGBoost, numpy) pick the format from it
    prefix, suffix = _temp_affixes(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results and models are meant to be shared
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` so that readers see the old file or the whole new one, never a half-written one."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically; arrays and paths are written as lists and strings."""
    write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class VectorCache:
    """A tiny SQLite store of float vectors by key; transactions make concurrent or killed writers safe."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=60)
        self.conn.execute("CREATE TABLE IF NOT EXISTS feat (key TEXT PRIMARY KEY, vec BLOB)")

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, vec FROM feat WHERE key IN ({','.join('?' * len(chunk))})"
            out.update({k: np.frombuffer(v, dtype=float) for k, v in self.conn.execute(q, chunk)})
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO feat VALUES (?, ?)", [(k, v.astype(float).tobytes()) for k, v in items.items()]
            )
