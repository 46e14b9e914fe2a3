"""Graph-network estimators (cgcnn, cgcnn-deep, schnet, megnet, hybrid) behind the one Estimator interface.

One class serves all five: an architecture only differs in its network and defaults, while graphs,
descriptors, target transform, training loop, checkpoints and the safetensors format are shared.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
from safetensors.torch import save_model
from torch import nn
from torch_geometric.data import Data

from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.features import FeatureConfig, featurize
from bulkmod.graphs import ATOM_FEATURE_DIM, GraphConfig, build_graphs, to_data
from bulkmod.io import atomic_path, sha256_json
from bulkmod.models.base import Estimator, Prediction, data_hash, training_summary
from bulkmod.models.ensemble import STD_FLOOR
from bulkmod.models.formats import load_safetensors_into
from bulkmod.models.gnn.legacy import load_legacy_cgcnn
from bulkmod.models.gnn.nets import CGCNN, ENCODERS, EncoderHead
from bulkmod.models.gnn.trainer import Trainer, TrainSettings, predict_batches, write_train_log
from bulkmod.models.registry import MODELS
from bulkmod.models.safety import listed_file
from bulkmod.models.transforms import TargetTransform
from bulkmod.uncertainty.conformal import ConformalInterval

WEIGHTS = "weights.safetensors"
TRAIN_LOG = "train_log.csv"
HOLDOUT_FRACTION = 0.1
# descriptor columns that change when the same crystal is described by a bigger cell
CELL_DEPENDENT = ("log_n_sites",)
GRAPH_KEYS = {f.name for f in fields(GraphConfig)}
TRAIN_KEYS = {"patience", "schedule", "huber_delta", "optimizer", "momentum"}
RUN_KEYS = {"checkpoint_dir", "resume", "pretrained"}  # how to run this fit; never change the trained model
UQ_KEYS = {"mc_samples"}  # Monte-Carlo dropout passes at predict time (0: one deterministic pass)


@dataclass(frozen=True)
class Arch:
    net: type[nn.Module]
    defaults: dict[str, Any]
    features: tuple[str, ...] = ()  # descriptor groups joined at the readout
    graph: dict[str, Any] = field(default_factory=dict)
    weight_decay: float = 1e-4


ARCHS: dict[str, Arch] = {
    "cgcnn": Arch(CGCNN, {"n_conv": 3, "atom_fea_len": 64, "h_fea_len": 128, "n_h": 1}, weight_decay=0.0),
    "cgcnn-deep": Arch(
        EncoderHead,
        {"encoder": "cgcnn-deep", "n_conv": 5, "hidden": 128, "dropout": 0.1, "pooling": "attention",
         "head_hidden": 128, "head_dropout": 0.1},
        features=("density",), graph={"angles": True},
    ),
    "schnet": Arch(EncoderHead, {"encoder": "schnet", "hidden": 64, "n_filters": 64, "n_interactions": 3}),
    "megnet": Arch(EncoderHead, {"encoder": "megnet", "hidden": 64, "n_blocks": 3}),
    "hybrid": Arch(
        EncoderHead,
        {"encoder": "cgcnn-deep", "n_conv": 3, "hidden": 64, "dropout": 0.0, "pooling": "attention",
         "head_hidden": 128, "head_dropout": 0.1},
        features=("magpie", "stoich", "density", "packing"),
    ),
}  # fmt: skip


def _check_params(arch: str, params: dict[str, Any]) -> None:
    """Refuse an unknown ``--param`` key, or a value of the wrong type, before a long training run starts."""
    nets = [ARCHS[arch].net]
    if nets[0] is EncoderHead and params.get("encoder") in ENCODERS:
        nets.append(ENCODERS[params["encoder"]])
    defaults = {
        name: p.default
        for net in nets
        for name, p in inspect.signature(net.__init__).parameters.items()
        if p.kind is p.KEYWORD_ONLY
    } | {f.name: f.default for f in fields(GraphConfig)}
    known = set(defaults) | TRAIN_KEYS | RUN_KEYS | UQ_KEYS
    if unknown := sorted(set(params) - known):
        raise BulkmodError(f"--param {', '.join(unknown)}: {arch} takes {', '.join(sorted(known))}")
    for key, value in params.items():
        default = defaults.get(key)
        if default is None or default is inspect.Parameter.empty:
            continue  # no default to read a type from (e.g. the encoder name, checked by the net)
        wanted = type(default)
        number = isinstance(value, int) and not isinstance(value, bool)
        if not (isinstance(value, wanted) or (wanted is float and number)):
            raise BulkmodError(f"--param {key}={value!r}: {arch} wants type {wanted.__name__} (default {default!r})")


class GraphModel(Estimator):
    """A graph network on periodic crystal graphs, trained with :class:`bulkmod.models.gnn.trainer.Trainer`.

    ``params`` holds architecture settings (e.g. ``n_conv``), graph settings (``cutoff``, ``max_neighbors``,
    ``angles``), training extras (``patience``, ``schedule``, ``huber_delta``, ``optimizer`` adamw or sgd,
    ``momentum`` for sgd), run options: ``checkpoint_dir`` (a checkpoint every epoch, one sub-folder per
    training set), ``resume`` (continue from it) and ``pretrained`` (cgcnn only: start from the legacy
    checkpoint), and ``mc_samples`` (T > 0: Monte-Carlo dropout, the mean and std of T passes with dropout
    on; the std of the validation crystals then scales a normalised conformal interval).
    """

    family: ClassVar[str] = "graph"

    def __init__(
        self,
        arch: str,
        *,
        transform: dict | None = None,
        loss: str = "mse",
        epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float | None = None,
        batch_size: int = 64,
        params: dict | None = None,
        features: dict | None = None,
        seed: int = 0,
        inner_folds: int = 1,
    ) -> None:
        super().__init__()
        spec = ARCHS[arch]
        self.key, self.family, self.arch = arch, MODELS[arch].family, arch
        tf = dict(transform or {})
        self.n_fit: int | None = tf.pop("n_fit", None)
        self.transform = TargetTransform.from_dict(tf) if tf else TargetTransform()
        self.params = {**spec.defaults, **spec.graph, **(params or {})}
        _check_params(arch, self.params)
        if features is not None:
            self.features = FeatureConfig.from_dict(features) if features.get("groups") else None
        else:
            self.features = FeatureConfig(spec.features) if spec.features else None
        self.graph = GraphConfig.from_dict({k: v for k, v in self.params.items() if k in GRAPH_KEYS})
        wd = spec.weight_decay if weight_decay is None else weight_decay
        extra = {k: v for k, v in self.params.items() if k in TRAIN_KEYS}
        self.settings = TrainSettings(
            epochs=epochs, lr=lr, weight_decay=wd, batch_size=batch_size, loss=loss, seed=seed, **extra
        )
        self.seed, self.inner_folds = seed, inner_folds
        self.net: nn.Module | None = None
        self.train_log: list[dict[str, float]] = []

    def config(self) -> dict[str, Any]:
        s = self.settings
        return {
            "transform": self.transform.as_dict() | {"n_fit": self.n_fit},
            "loss": s.loss,
            "epochs": s.epochs,
            "lr": s.lr,
            "weight_decay": s.weight_decay,
            "batch_size": s.batch_size,
            "params": self.params,
            "features": self.features.as_dict() if self.features else {"groups": []},
            "seed": self.seed,
            "inner_folds": self.inner_folds,
        }

    # ---- data ----------------------------------------------------------------------------------------
    def _desc_columns(self) -> list[int]:
        assert self.features is not None
        return [i for i, n in enumerate(self.features.names()) if n not in CELL_DEPENDENT]

    def _data(self, ds: Dataset) -> tuple[list[Data | None], dict[int, str]]:
        ds.require_structures("graph models need crystal structures")
        graphs, errors = build_graphs(ds.structures, self.graph)
        data = [None if g is None else to_data(g, self.graph) for g in graphs]
        if self.features is not None:
            X, ferr = featurize(ds, self.features)
            X = X[:, self._desc_columns()].astype(np.float32)
            errors |= {i: why for i, why in ferr.items() if i not in errors}
            for i, d in enumerate(data):
                if d is not None:
                    d.u = torch.from_numpy(X[i : i + 1])
        return data, errors

    def _build_net(self) -> nn.Module:
        desc_dim = len(self._desc_columns()) if self.features else 0
        arch = {k: v for k, v in self.params.items() if k not in GRAPH_KEYS | TRAIN_KEYS | RUN_KEYS | UQ_KEYS}
        if self.params.get("encoder") == "schnet":
            arch.setdefault("cutoff", self.graph.max_cutoff)  # grown radii stay inside SchNet's cosine envelope
        try:
            return ARCHS[self.arch].net(ATOM_FEATURE_DIM, self.graph.edge_dim, desc_dim, **arch)
        except TypeError as exc:
            raise BulkmodError(f"{self.arch}: unknown parameter ({exc})") from None

    def parameter_count(self) -> int:
        """Trainable parameters of this configuration (fitted or not), for benchmark tables."""
        net = self.net or self._build_net()
        return sum(p.numel() for p in net.parameters() if p.requires_grad)

    # ---- training ------------------------------------------------------------------------------------
    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        data, errors = self._data(ds)
        if errors:
            i, why = next(iter(errors.items()))
            raise BulkmodError(
                f"{ds.name}: {len(errors)} crystals have no graph or descriptors, e.g. {ds.ids[i]}: {why}"
            )
        y_log10 = np.asarray(y_log10, float)
        if val is not None:
            tr, (val_data, _) = np.arange(len(ds)), self._data(val)
            y_val = val.y_log10
        else:
            frac = 1.0 / self.inner_folds if self.inner_folds >= 2 else HOLDOUT_FRACTION
            perm = np.random.default_rng(self.seed).permutation(len(ds))
            cut = max(1, round(len(ds) * frac))
            tr, va = np.sort(perm[cut:]), np.sort(perm[:cut])
            val_data, y_val = [data[i] for i in va], y_log10[va]
        torch.manual_seed(self.seed)
        self.net = self._build_net()
        report = self._maybe_pretrained()
        self.transform.fit(y_log10[tr])
        self.n_fit = len(tr) if self.transform.standardize else None  # no normaliser, nothing fitted
        if report and report["normalizer"] and self.transform.space == "log10" and self.transform.standardize:
            # keep fc_out's scale meaningful: fine-tune in the target units the checkpoint was trained in
            self.transform.mean, self.transform.std = report["normalizer"]["mean"], report["normalizer"]["std"]
        if self.features is not None:
            U = torch.cat([data[i].u for i in tr]).numpy()
            std = np.nan_to_num(np.nanstd(U, 0), nan=1.0)
            self.net.head.desc_mean.copy_(torch.from_numpy(np.nan_to_num(np.nanmean(U, 0))))
            # a column constant in training (e.g. no f-electrons) must not blow up on a new crystal
            self.net.head.desc_std.copy_(torch.from_numpy(np.where(std > 1e-6, std, 1.0).astype(np.float32)))
        trainer = Trainer(self.settings, self._checkpoint_dir(ds), bool(self.params.get("resume", False)))
        state = trainer.fit(
            self.net,
            [data[i] for i in tr],
            self.transform.forward(y_log10[tr]),
            val_data,
            y_val,
            self.transform.inverse,
            fingerprint=self._fingerprint(ds),
        )
        self.train_log = state.log
        mean, std = self._forward(val_data)
        self.conformal = ConformalInterval.from_residuals(mean - y_val, scale=std)
        self.train_info = training_summary(ds) | {
            "n_train": len(tr),
            "n_val": len(y_val),
            "epochs_run": state.epoch,
            "best_epoch": state.best_epoch,
            "best_val_mae_log10": state.best_val,
            "parameters": self.parameter_count(),
            "pretrained": report,
        }
        return self

    def _maybe_pretrained(self) -> dict[str, Any] | None:
        path = self.params.get("pretrained")
        if not path:
            return None
        if self.arch != "cgcnn":
            raise BulkmodError(f"pretrained= is only for cgcnn (the legacy checkpoint is a CGCNN), not {self.arch}")
        report = load_legacy_cgcnn(self.net, path)
        print(
            f"pretrained {path}: loaded {report['loaded']} tensors, skipped {len(report['skipped'])}: "
            + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items()),
            file=sys.stderr,
        )
        return report

    def _fingerprint(self, ds: Dataset) -> str:
        cfg = self.config() | {"params": {k: v for k, v in self.params.items() if k not in RUN_KEYS - {"pretrained"}}}
        cfg["transform"] = self.transform.as_dict() | {"n_fit": None}
        return sha256_json({"arch": self.arch, "config": cfg, "data": data_hash(ds)})

    def _checkpoint_dir(self, ds: Dataset) -> Path | None:
        root = self.params.get("checkpoint_dir")
        if not root:
            return None
        path = Path(root) / f"{self.arch}-{self._fingerprint(ds)[:16]}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- prediction and storage ------------------------------------------------------------------------
    def _forward(self, data: list[Data]) -> tuple[np.ndarray, np.ndarray | None]:
        """log10 predictions, and with ``mc_samples`` the mean and std over that many dropout passes."""
        passes = int(self.params.get("mc_samples", 0))
        if passes <= 0:
            return self.transform.inverse(predict_batches(self.net, data)), None
        if not any(isinstance(m, nn.Dropout) and m.p > 0 for m in self.net.modules()):
            raise BulkmodError(f"{self.arch}: mc_samples needs dropout > 0 (e.g. --param head_dropout=0.1)")
        torch.manual_seed(self.seed)  # the same crystals get the same interval on every call
        draws = np.stack(
            [self.transform.inverse(predict_batches(self.net, data, mc_dropout=True)) for _ in range(passes)]
        )
        return draws.mean(0), np.maximum(draws.std(0), STD_FLOOR)

    def predict(self, ds: Dataset) -> Prediction:
        if self.net is None:
            raise BulkmodError("model is not fitted")
        data, errors = self._data(ds)
        ok = [i for i in range(len(ds)) if i not in errors]
        mean, std = np.full(len(ds), np.nan), None
        if ok:
            mean[ok], s = self._forward([data[i] for i in ok])
            if s is not None:
                std = np.full(len(ds), np.nan)
                std[ok] = s
        return self._with_intervals(Prediction(mean_log10=mean, std_log10=std, errors=errors), scale=std)

    def _write_weights(self, directory: Path) -> list[str]:
        if self.net is None:
            raise BulkmodError("model is not fitted")
        with atomic_path(directory / WEIGHTS) as tmp:
            save_model(self.net, str(tmp))  # handles SchNet's shared filter-network tensors
        if self.train_log:
            write_train_log(directory / TRAIN_LOG, self.train_log)
        return [WEIGHTS]

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        path = listed_file(directory, manifest, WEIGHTS)
        self.net = self._build_net()
        load_safetensors_into(self.net, path)
        self.net.eval()
