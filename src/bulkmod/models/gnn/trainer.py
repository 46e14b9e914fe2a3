"""One training loop for every bulkmod neural network.

AdamW (or SGD with momentum, the original CGCNN's optimiser, kept to reproduce its failure), a cosine or
plateau LR schedule, early stopping on a validation split carved from the training data, and a checkpoint
every epoch (model, optimiser, scheduler, RNG states, log) written atomically. Resuming from that checkpoint
replays the remaining epochs exactly, so a killed run finishes with the same metrics as an uninterrupted one
(CPU, same thread count). Training and prediction run on :func:`~bulkmod.device.resolve_device`'s device; the
network is handed back on the CPU, where it is saved and where the next call finds it. The checkpoint holds
tensors and plain Python values only and is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from bulkmod.device import resolve_device
from bulkmod.errors import BulkmodError
from bulkmod.io import atomic_path, remove_stale_temps
from bulkmod.models.options import Loss, Options
from bulkmod.progress import progress_bar

CHECKPOINT = "checkpoint.pt"
LOG_COLUMNS = ("epoch", "lr", "train_loss", "val_mae", "val_spread")
LOSSES: dict[str, Callable[[float], nn.Module]] = {
    "mse": lambda _delta: nn.MSELoss(),
    "huber": lambda delta: nn.HuberLoss(delta=delta),
    "l1": lambda _delta: nn.L1Loss(),
}


@dataclass(frozen=True)
class TrainSettings(Options):
    """How the loop trains; a checkpoint records them, and resuming needs the same ones."""

    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    loss: Loss = "mse"
    huber_delta: float = 1.0
    schedule: Literal["cosine", "plateau", "none"] = "cosine"
    patience: int = 25  # epochs without a better validation MAE before stopping
    seed: int = 0
    # "sgd": the original CGCNN's SGD with momentum (its defaults: lr 0.01, momentum 0.9)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    momentum: float = 0.9  # sgd only

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise BulkmodError(
                f"invalid training settings: epochs={self.epochs}, batch_size={self.batch_size}, "
                f"lr={self.lr} (need epochs >= 1, batch_size >= 1, lr > 0)"
            )


@dataclass
class TrainState:
    """Everything that changes between epochs; what a checkpoint stores besides the module states."""

    epoch: int = 0  # epochs completed
    best_val: float = float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    log: list[dict[str, float]] = field(default_factory=list)
    done: bool = False


def predict_batches(model: nn.Module, data: list[Data], batch_size: int = 256, mc_dropout: bool = False) -> np.ndarray:
    """Model outputs for ``data`` in order; eval mode, so no batch statistics leak between crystals.

    ``mc_dropout`` keeps only the dropout layers sampling (Monte-Carlo dropout); norms stay in eval mode.
    """
    model.eval()
    if mc_dropout:
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.train()
    home = next(model.parameters()).device
    device = home if home.type != "cpu" else torch.device(resolve_device())  # inside Trainer.fit: stay put
    model.to(device)
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(data), batch_size):
                batch = Batch.from_data_list(data[i : i + batch_size]).to(device)
                out.append(model(batch).double().cpu().numpy())
    finally:
        model.to(home)
    return np.concatenate(out) if out else np.empty(0)


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    if s.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, s: TrainSettings) -> torch.optim.lr_scheduler.LRScheduler | Any:
    if s.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs, eta_min=s.lr * 0.01)
    if s.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(2, s.patience // 3))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _e: 1.0)


class Trainer:
    """Fits ``model`` (a module mapping a PyG ``Batch`` to one output per graph) to targets ``z``.

    ``to_log10`` maps model outputs back to log10 K so validation MAE and spread are in the units
    every bulkmod result uses, whatever the target transform.
    """

    def __init__(self, settings: TrainSettings, checkpoint_dir: Path | None = None, resume: bool = False) -> None:
        self.s = settings
        self.checkpoint = checkpoint_dir / CHECKPOINT if checkpoint_dir else None
        self.resume = resume

    def fit(
        self,
        model: nn.Module,
        train: list[Data],
        z_train: np.ndarray,
        val: list[Data],
        y_val_log10: np.ndarray,
        to_log10: Callable[[np.ndarray], np.ndarray],
        *,
        fingerprint: str = "",
    ) -> TrainState:
        for d, zi in zip(train, z_train, strict=True):
            d.y = torch.tensor([zi], dtype=torch.float32)
        device = torch.device(resolve_device())
        model.to(device)  # before the optimiser is made, so its state lives beside the parameters
        try:
            return self._fit(model, train, val, y_val_log10, to_log10, fingerprint, device)
        finally:
            model.to("cpu")

    def _fit(
        self,
        model: nn.Module,
        train: list[Data],
        val: list[Data],
        y_val_log10: np.ndarray,
        to_log10: Callable[[np.ndarray], np.ndarray],
        fingerprint: str,
        device: torch.device,
    ) -> TrainState:
        s = self.s
        opt = _optimizer(model, s)
        sched = _scheduler(opt, s)
        gen = torch.Generator().manual_seed(s.seed)
        loss_fn = LOSSES[s.loss](s.huber_delta)
        state, best = TrainState(), copy.deepcopy(model.state_dict())
        if self.checkpoint:  # a kill during a checkpoint write leaves its temp file (never a partial checkpoint)
            remove_stale_temps(self.checkpoint)
        if self.resume and self.checkpoint and self.checkpoint.exists():
            state, best = self._restore(model, opt, sched, gen, fingerprint)
        bar = progress_bar(
            range(state.epoch, s.epochs),
            "training",
            total=s.epochs,
            unit="epoch",
            show=not state.done,
            leave=False,
            initial=state.epoch,
        )
        for epoch in bar:
            if state.done:
                break
            model.train()
            perm = torch.randperm(len(train), generator=gen).tolist()
            total = 0.0
            for i in range(0, len(perm), s.batch_size):
                batch = Batch.from_data_list([train[j] for j in perm[i : i + s.batch_size]]).to(device)
                loss = loss_fn(model(batch), batch.y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * batch.num_graphs
            pred = to_log10(predict_batches(model, val))
            val_mae = float(np.mean(np.abs(pred - y_val_log10)))
            spread = float(np.std(pred) / np.std(y_val_log10)) if np.std(y_val_log10) > 0 else float("nan")
            if not np.isfinite(val_mae):
                raise BulkmodError(
                    f"training diverged at epoch {epoch} (validation predictions are not finite): "
                    "lower --lr or use a normalised target"
                )
            lr = opt.param_groups[0]["lr"]
            if s.schedule == "plateau":
                sched.step(val_mae)
            else:
                sched.step()
            state.log.append(
                {"epoch": epoch, "lr": lr, "train_loss": total / len(train), "val_mae": val_mae, "val_spread": spread}
            )
            if val_mae < state.best_val:
                state.best_val, state.best_epoch, state.bad_epochs = val_mae, epoch, 0
                best = copy.deepcopy(model.state_dict())
            else:
                state.bad_epochs += 1
            state.epoch = epoch + 1
            state.done = state.bad_epochs >= s.patience or state.epoch >= s.epochs
            bar.set_postfix(val_mae=f"{val_mae:.4f}", best=f"{state.best_val:.4f}")
            if self.checkpoint:
                _save_checkpoint(self.checkpoint, self._payload(model, opt, sched, gen, state, best, fingerprint))
        bar.close()
        model.load_state_dict(best)
        model.eval()
        return state

    def _payload(self, model, opt, sched, gen, state: TrainState, best: dict, fingerprint: str) -> dict[str, Any]:
        return {
            "fingerprint": fingerprint,
            "settings": asdict(self.s),
            "model": model.state_dict(),
            "best": best,
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if self.s.schedule != "none" else {},
            "torch_rng": torch.get_rng_state(),
            "loader_rng": gen.get_state(),
            "state": asdict(state),
        }

    def _restore(self, model, opt, sched, gen, fingerprint: str) -> tuple[TrainState, dict]:
        ck = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        saved = ck.get("settings")
        if isinstance(saved, dict):  # settings added since the checkpoint was written read as their defaults
            saved = asdict(TrainSettings()) | saved
        if ck.get("fingerprint") != fingerprint or saved != asdict(self.s):
            raise BulkmodError(
                f"{self.checkpoint}: checkpoint is from a different model, data or settings; "
                "remove it or train without resume"
            )
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if self.s.schedule != "none":
            sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["torch_rng"])
        gen.set_state(ck["loader_rng"])
        return TrainState(**ck["state"]), ck["best"]


def write_train_log(path: Path, log: list[dict[str, float]]) -> None:
    """``train_log.csv`` in the columns ``bulkmod diagnose --model`` reads."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        w.writeheader()
        w.writerows(log)
