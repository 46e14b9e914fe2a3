"""Where torch work runs: ``auto`` (a CUDA GPU when torch sees one, else the CPU), ``cpu`` or ``cuda``.

A run option, never part of a model: the same weights give the same numbers (to float rounding) on either, so
the choice is read when the work runs (``--device``, or ``BULKMOD_DEVICE``, which worker processes inherit) and
is saved neither with a model nor in a cache key. Potentials and the graph-network trainer ask here; nothing
imports torch until then, so ``--help`` stays fast.
"""

from __future__ import annotations

import os

from bulkmod.errors import BulkmodError

DEVICES = ("auto", "cpu", "cuda")
ENV = "BULKMOD_DEVICE"


def resolve_device(choice: str | None = None) -> str:
    """``cpu`` or ``cuda`` for ``choice`` (default: ``BULKMOD_DEVICE``, else ``auto``).

    Raises:
        BulkmodError: an unknown choice, or ``cuda`` where torch sees no CUDA GPU (a CPU-only torch build, or
            no visible device), rather than a failure deep inside the first forward pass.
    """
    source = "--device" if choice else ENV
    name = (choice or os.environ.get(ENV) or "auto").strip().lower()
    if name not in DEVICES:
        raise BulkmodError(f"{source}={name!r} is not a device: use {', '.join(DEVICES)}")
    if name == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if name == "cuda":
        raise BulkmodError(
            f"{source}=cuda: torch {torch.__version__} sees no CUDA GPU (torch.cuda.is_available() is False); "
            "use --device cpu or auto"
        )
    return "cpu"
