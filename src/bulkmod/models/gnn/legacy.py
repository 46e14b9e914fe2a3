"""Initialise ``cgcnn`` from the original project's pretrained checkpoint, without unpickling code.

The checkpoint (txie-93/cgcnn ``bulk-moduli.pth.tar``) is read with ``torch.load(weights_only=True)``.
Tensors are copied where name and shape match; everything else is listed with the reason, because a
partial load that looks complete is worse than none. Its embedding is always skipped: it expects the
original 92-dim ``atom_init`` encoding, whose columns differ from bulkmod's own atom features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bulkmod.errors import BulkmodError

EMBEDDING = "embedding."


def read_legacy_checkpoint(path: Path | str) -> dict[str, Any]:
    """The checkpoint's contents, read weights-only; a missing, unsafe or non-CGCNN file is refused by name."""
    path = Path(path)
    if not path.exists():
        raise BulkmodError(f"{path}: pretrained checkpoint not found")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable or unsafe file: torch raises several unrelated types
        raise BulkmodError(f"{path}: not a weights-only CGCNN checkpoint ({str(exc).splitlines()[0]})") from None
    if not isinstance(ck, dict) or "state_dict" not in ck:
        raise BulkmodError(f"{path}: no state_dict in checkpoint: not a CGCNN checkpoint")
    return ck


def load_legacy_cgcnn(model: nn.Module, path: Path | str) -> dict[str, Any]:
    """Copy matching tensors into ``model``; return what was loaded and skipped (and the legacy normaliser)."""
    ck = read_legacy_checkpoint(path)
    own = model.state_dict()
    loaded: list[str] = []
    skipped: dict[str, str] = {}
    for name, tensor in ck["state_dict"].items():
        if name.startswith(EMBEDDING):
            skipped[name] = (
                f"legacy embedding expects the original 92-dim atom_init features (shape {tuple(tensor.shape)}); "
                "bulkmod's atom encoding differs, so it is re-initialised"
            )
        elif name not in own:
            skipped[name] = "no such parameter in this model (fewer layers?)"
        elif own[name].shape != tensor.shape:
            skipped[name] = f"shape {tuple(tensor.shape)} in checkpoint, {tuple(own[name].shape)} in this model"
        else:
            own[name] = tensor.to(own[name].dtype)
            loaded.append(name)
    if not any(not n.startswith(EMBEDDING) for n in loaded):
        raise BulkmodError(
            f"{path}: no checkpoint tensor fits this model; the checkpoint has n_conv=4, h_fea_len=32 and "
            "41 edge features (use --param n_conv=4 --param h_fea_len=32)"
        )
    model.load_state_dict(own)
    not_in_ck = [n for n in own if n not in ck["state_dict"] and not n.endswith("num_batches_tracked")]
    return {
        "path": str(path),
        "loaded": len(loaded),
        "skipped": skipped,
        "initialised_fresh": not_in_ck,
        "normalizer": {k: float(v) for k, v in (ck.get("normalizer") or {}).items()},
    }
