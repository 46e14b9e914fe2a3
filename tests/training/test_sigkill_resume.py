"""A real SIGKILL in the middle of `bulkmod train`, then `--resume`: same model as an uninterrupted run,
which `bulkmod predict --model DIR` then uses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bulkmod.cli import main
from bulkmod.models import Estimator
from bulkmod.models.gnn.trainer import CHECKPOINT

EPOCHS = 30
ARGS = [
    "--model", "cgcnn-deep", "--epochs", str(EPOCHS), "--batch-size", "16", "--seed", "3",
    "--param", "n_conv=2", "--param", "hidden=16", "--param", "head_hidden=16", "--param", "patience=1000",
]  # fmt: skip
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _train(folder, out, *extra) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bulkmod.cli", "train", "--dataset", str(folder), "--out", str(out), *ARGS, *extra]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _epoch(ckdir) -> int:
    found = list(ckdir.glob(f"*/{CHECKPOINT}"))
    if not found:
        return -1
    return int(torch.load(found[0], map_location="cpu", weights_only=True)["state"]["epoch"])


def test_sigkill_then_resume_matches_uninterrupted(mp_small, tmp_path, sigkill_when):
    folder = tmp_path / "crystals"
    folder.mkdir()
    rows = []
    for i, (sid, s, k) in enumerate(zip(mp_small.ids, mp_small.structures, mp_small.k_vrh, strict=True)):
        if i == 150:
            break
        s.to(filename=str(folder / f"{sid}.cif"))
        rows.append(f"{sid},{k}")
    (folder / "id_prop.csv").write_text("\n".join(rows) + "\n")

    reference = _train(folder, tmp_path / "ref")
    ckdir = tmp_path / "ck"
    victim = _train(folder, tmp_path / "killed", "--checkpoint-dir", str(ckdir))
    killed_at = sigkill_when(victim, lambda: _epoch(ckdir), 3, timeout=300)
    assert victim.returncode == -signal.SIGKILL and 3 <= killed_at < EPOCHS, killed_at
    assert not (tmp_path / "killed" / "manifest.json").exists()
    # atomic checkpoint writes: the checkpoint is whole (a kill mid-write may leave only its temp file)
    assert all(p.name.startswith(f".{CHECKPOINT}.") for p in ckdir.rglob("*.tmp*"))
    assert _epoch(ckdir) >= killed_at

    resumed = _train(folder, tmp_path / "resumed", "--checkpoint-dir", str(ckdir), "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()[-2000:]
    assert not list(ckdir.rglob("*.tmp*"))  # the resumed run swept the killed run's temp file
    assert reference.wait(timeout=600) == 0, reference.stderr.read().decode()[-2000:]

    test = mp_small.subset(range(200, 240))
    a = Estimator.load(tmp_path / "ref").predict(test).mean_log10
    b = Estimator.load(tmp_path / "resumed").predict(test).mean_log10
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    log_a = (tmp_path / "ref" / "train_log.csv").read_text()
    assert log_a == (tmp_path / "resumed" / "train_log.csv").read_text()

    # the resumed cgcnn-deep checkpoint is a model `bulkmod predict` takes: a K and an interval per example
    out = tmp_path / "k.csv"
    assert main(["predict", str(EXAMPLES), "--model", str(tmp_path / "resumed"), "--out", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == len(list(EXAMPLES.iterdir())) and (df["error"] == "").all()
    k, lo, hi = (pd.to_numeric(df[c]) for c in ("k_vrh_gpa", "k_vrh_low_gpa", "k_vrh_high_gpa"))
    assert ((k > 1) & (k < 1000)).all() and (lo < k).all() and (k < hi).all()
