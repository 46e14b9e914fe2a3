"""Fetch a public file once into the cache, verified by sha256 (used for matbench structures)."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from bulkmod.errors import BulkmodError
from bulkmod.io import atomic_path, cache_dir, sha256_file


def fetch(url: str, sha256: str, name: str, *, allow_download: bool = True) -> Path:
    """Return a cached copy of ``url`` whose sha256 is ``sha256``; download it if missing.

    A cached file with the wrong hash is refused (never silently used or overwritten in place); a
    download with the wrong hash is deleted and refused.
    """
    target = cache_dir("downloads") / name
    if target.exists():
        got = sha256_file(target)
        if got == sha256:
            return target
        raise BulkmodError(
            f"{target}: sha256 {got[:12]}... does not match the expected {sha256[:12]}...; delete it to re-download"
        )
    if not allow_download:
        raise BulkmodError(f"{name} is not in the cache ({target}) and downloading is off")
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
            got = sha256_file(tmp)
            if got != sha256:
                raise BulkmodError(
                    f"{url}: downloaded file has sha256 {got[:12]}..., expected {sha256[:12]}...; not cached"
                )
    except OSError as exc:
        raise BulkmodError(f"{url}: download failed ({exc}); pass a local copy with --path") from None
    return target
