"""Untrusted files: loading never executes code; tampering and oversized inputs are refused clearly."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from pymatgen.core import Lattice, Structure

from bulkmod.errors import BulkmodError
from bulkmod.models.gnn.legacy import read_legacy_checkpoint
from bulkmod.models.pretrained import DEFAULT_MODEL, PRETRAINED_DIR, load_model
from bulkmod.prediction import predict_files

SHARED_CKPT = Path(__file__).resolve().parents[2] / "shared" / "data" / "cgcnn-pretrained" / "bulk-moduli.pth.tar"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth.tar"
    evil.write_bytes(pickle.dumps({"state_dict": {}, "payload": _Exploit(marker)}))
    with pytest.raises(BulkmodError, match="weights-only"):
        read_legacy_checkpoint(evil)
    torch_evil = tmp_path / "evil_torch.pth.tar"
    torch.save({"state_dict": {}, "payload": _Exploit(marker)}, torch_evil)
    with pytest.raises(BulkmodError, match="weights-only"):
        read_legacy_checkpoint(torch_evil)
    assert not marker.exists()


@pytest.mark.skipif(not SHARED_CKPT.exists(), reason="shared CGCNN checkpoint not available")
def test_legacy_cgcnn_checkpoint_loads_weights_only():
    ck = read_legacy_checkpoint(SHARED_CKPT)
    assert all(isinstance(v, torch.Tensor) for v in ck["state_dict"].values())


@pytest.mark.skipif(not (PRETRAINED_DIR / DEFAULT_MODEL).exists(), reason="default model not built")
def test_5000_atom_cell_is_refused_with_the_setting_to_raise(tmp_path):
    cu = Structure(Lattice.cubic(3.615), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    big = cu.make_supercell([11, 11, 11], in_place=False)  # 5,324 atoms
    path = tmp_path / "big.cif"
    big.to(filename=str(path))
    df = predict_files([path], load_model(None))
    assert df["k_vrh_gpa"].isna().all()
    assert "5324 sites exceeds the cap" in df["error"][0] and "BULKMOD_MAX_ATOMS" in df["error"][0]
