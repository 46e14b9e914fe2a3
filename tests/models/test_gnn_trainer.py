"""The training loop: determinism, checkpoints every epoch, and resume after a kill == uninterrupted run."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from bulkmod.errors import BulkmodError
from bulkmod.models import build_model
from bulkmod.models.gnn import trainer as trainer_mod
from bulkmod.models.gnn.trainer import CHECKPOINT, TrainSettings

EPOCHS = 4
PARAMS = {"n_conv": 2, "hidden": 16, "head_hidden": 16, "dropout": 0.2}  # dropout: the RNG state must resume too


@pytest.fixture(scope="module")
def data(mp_small):
    torch.set_num_threads(1)
    return mp_small.subset(range(60)), mp_small.subset(range(250, 270))


def _fit(train, checkpoint_dir=None, resume=False, seed=0):
    params = PARAMS | ({"checkpoint_dir": str(checkpoint_dir), "resume": resume} if checkpoint_dir else {})
    model = build_model("cgcnn-deep", epochs=EPOCHS, batch_size=16, seed=seed, params=params)
    return model.fit(train, train.y_log10)


class Killed(Exception):
    pass


def test_resume_after_kill_equals_uninterrupted_run(data, tmp_path, monkeypatch):
    train, test = data
    reference = _fit(train)
    real_save, saves = trainer_mod._save_checkpoint, []

    def save_then_die(path, payload):
        real_save(path, payload)
        saves.append(path)
        if len(saves) == 2:
            raise Killed  # the process dies right after the epoch-2 checkpoint is on disk

    monkeypatch.setattr(trainer_mod, "_save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        _fit(train, tmp_path)
    monkeypatch.undo()
    ck = torch.load(saves[-1], map_location="cpu", weights_only=True)
    assert ck["state"]["epoch"] == 2 and isinstance(ck["torch_rng"], torch.Tensor)
    resumed = _fit(train, tmp_path, resume=True)
    assert [r["epoch"] for r in resumed.train_log] == list(range(EPOCHS))
    assert resumed.train_log == reference.train_log
    np.testing.assert_array_equal(resumed.predict(test).mean_log10, reference.predict(test).mean_log10)


def test_checkpoint_every_epoch_and_seeds(data, tmp_path):
    train, test = data
    a = _fit(train, tmp_path)
    (folder,) = tmp_path.iterdir()
    assert (folder / CHECKPOINT).exists() and not list(folder.glob("*.tmp*"))
    assert torch.load(folder / CHECKPOINT, weights_only=True)["state"]["done"]
    b, c = _fit(train), _fit(train, seed=1)
    np.testing.assert_array_equal(a.predict(test).mean_log10, b.predict(test).mean_log10)
    assert not np.allclose(a.predict(test).mean_log10, c.predict(test).mean_log10)


def test_finished_checkpoint_is_reused_on_resume(data, tmp_path):
    train, test = data
    first = _fit(train, tmp_path)
    again = _fit(train, tmp_path, resume=True)  # e.g. a benchmark resumed after its later folds were killed
    assert again.train_log == first.train_log
    np.testing.assert_array_equal(again.predict(test).mean_log10, first.predict(test).mean_log10)


def test_log_lr_schedule_and_early_stopping(data, tmp_path):
    train, _ = data
    model = build_model(
        "cgcnn",
        epochs=30,
        lr=0.5,
        batch_size=16,
        params={"atom_fea_len": 8, "h_fea_len": 8, "patience": 2, "schedule": "plateau"},
    )
    model.fit(train, train.y_log10)
    log = pd.DataFrame(model.train_log)
    assert len(log) < 30  # stopped early: lr 0.5 does not keep improving
    assert model.train_info["epochs_run"] == len(log)
    assert model.train_info["best_val_mae_log10"] == pytest.approx(log["val_mae"].min())
    cosine = _fit(train)
    lrs = [r["lr"] for r in cosine.train_log]
    assert lrs[0] == pytest.approx(1e-3) and all(x > y for x, y in itertools.pairwise(lrs))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": "hinge"},
        {"epochs": 0},
        {"params": {"schedule": "step"}},
        {"params": {"optimizer": "adam"}},
        {"lr": -1.0},
    ],
)
def test_invalid_settings(kwargs):
    with pytest.raises(BulkmodError):
        build_model("cgcnn", **kwargs)


def test_losses_available():
    for loss in ("mse", "huber", "l1"):
        assert TrainSettings(loss=loss).loss == loss
