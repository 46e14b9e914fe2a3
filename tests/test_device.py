"""``--device``/``BULKMOD_DEVICE``: auto, cpu or cuda for potentials and graph networks, refused clearly where no
GPU is visible, and a run on the CPU is the same run whichever way the CPU was chosen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bulkmod.cli import main
from bulkmod.device import ENV, resolve_device
from bulkmod.errors import BulkmodError
from bulkmod.models import build_model
from bulkmod.physics import potentials


def test_choices_resolve_and_a_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device() == resolve_device("auto") == resolve_device("cpu") == "cpu"
    with pytest.raises(BulkmodError, match=r"^--device=cuda: torch .* sees no CUDA GPU .*use --device cpu or auto$"):
        resolve_device("cuda")
    monkeypatch.setenv(ENV, "tpu")
    with pytest.raises(BulkmodError, match=r"^BULKMOD_DEVICE='tpu' is not a device: use auto, cpu, cuda$"):
        resolve_device()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(ENV, "CUDA")
    assert resolve_device() == resolve_device("auto") == "cuda" and resolve_device("cpu") == "cpu"


def test_cli_refuses_cuda_without_a_gpu_before_any_work(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["predict", "--device", "cuda", "--out", str(tmp_path / "out.csv"), "examples/NaCl.cif"])
    err = capsys.readouterr().err
    assert code == 2 and "sees no CUDA GPU" in err and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()


def test_potentials_load_once_per_device(monkeypatch):
    made = []

    class Fake(potentials.Potential):
        name, package, model_name = "fake", "numpy", "0"
        atomic_numbers = frozenset({1})

        def __init__(self, device: str = "cpu") -> None:
            super().__init__(device)
            made.append(device)

        def energies(self, structures):
            return np.zeros(len(structures))

        def calculator(self):
            return None

    monkeypatch.setitem(potentials.POTENTIALS, "fake", Fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    potentials._loaded.cache_clear()
    try:
        assert potentials.get_potential("fake", "cpu").device == "cpu"
        assert potentials.get_potential("fake", "auto").device == "cuda"
        potentials.get_potential("fake", "cpu")
        assert made == ["cpu", "cuda"]
    finally:
        potentials._loaded.cache_clear()


def test_graph_training_on_the_cpu_is_the_same_whichever_way_it_was_chosen(mp_small, monkeypatch):
    torch.set_num_threads(1)
    train, probe = mp_small.subset(range(40)), mp_small.subset(range(40, 46))
    runs = []
    for choice in ("auto", "cpu"):
        monkeypatch.setenv(ENV, choice)
        model = build_model("cgcnn", epochs=2, batch_size=16, params={"atom_fea_len": 16, "h_fea_len": 16})
        model.fit(train, train.y_log10)
        assert next(model.net.parameters()).device.type == "cpu"  # handed back on the CPU, ready to save
        runs.append(model.predict(probe).mean_log10)
    np.testing.assert_array_equal(runs[0], runs[1])
