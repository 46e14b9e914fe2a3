"""Graph-network estimators (cgcnn, cgcnn-deep, schnet, megnet, hybrid) behind the one Estimator interface.

One class serves all five: an architecture only differs in its network and defaults, while graphs,
descriptors, target transform, training loop, checkpoints and the safetensors format are shared.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from dataclasses import dataclass, field, fields
from functools import cache
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
from bulkmod.features.scaling import Standardiser
from bulkmod.graphs import ATOM_FEATURE_DIM, GraphConfig, build_graphs, to_data
from bulkmod.io import atomic_path, sha256_json
from bulkmod.models.base import Estimator, Prediction, data_hash, training_summary
from bulkmod.models.formats import check_arrays, load_safetensors, load_safetensors_into, save_safetensors
from bulkmod.models.gnn.legacy import load_legacy_cgcnn
from bulkmod.models.gnn.nets import CGCNN, ENCODERS, EncoderHead
from bulkmod.models.gnn.trainer import Trainer, TrainSettings, predict_batches, write_train_log
from bulkmod.models.options import parse_options, split_options
from bulkmod.models.registry import MODELS
from bulkmod.models.safety import listed_file
from bulkmod.models.transforms import TargetTransform
from bulkmod.uncertainty.conformal import ConformalInterval
from bulkmod.uncertainty.constants import STD_FLOOR
from bulkmod.uncertainty.laplace import LastLayerLaplace

WEIGHTS = "weights.safetensors"
LAPLACE = "laplace.safetensors"
LAPLACE_ARRAYS = {"laplace_covariance": ("f", ("w", "w")), "laplace_scalars": ("f", ("two",))}
TRAIN_LOG = "train_log.csv"
HOLDOUT_FRACTION = 0.1
# descriptor columns that change when the same crystal is described by a bigger cell
CELL_DEPENDENT = ("log_n_sites",)
GRAPH_KEYS = {f.name for f in fields(GraphConfig)}
RUN_KEYS = ("checkpoint_dir", "resume")  # how to run this fit; never change the trained model


@dataclass(frozen=True)
class GraphOptions(TrainSettings):
    """A graph model's options: how it trains, validates and runs, and where its uncertainty comes from.

    How it trains is :class:`~bulkmod.models.gnn.trainer.TrainSettings`; on top come
    ``inner_folds`` (>= 2: a validation fold of 1 / inner_folds, else a 10 % hold-out), run options
    (``checkpoint_dir``: a checkpoint every epoch, one sub-folder per training set; ``resume``: continue from it;
    ``pretrained``: cgcnn starts from the legacy checkpoint at that path, megnet from the published MEGNet model of
    that version, :mod:`~bulkmod.models.gnn.megnet_port`) and ``mc_samples`` (T > 0: Monte-Carlo dropout,
    the mean and std of T passes with dropout on; the std of the validation crystals then scales a normalised
    conformal interval) or ``laplace`` (a last-layer Laplace posterior, :mod:`bulkmod.uncertainty.laplace`, whose
    predictive std scales the interval the same way).
    """

    inner_folds: int = 1
    mc_samples: int = 0
    laplace: bool = False
    checkpoint_dir: str | None = None
    resume: bool = False
    pretrained: str | None = None

    def train_settings(self) -> TrainSettings:
        """The training part alone: what a checkpoint records and a resumed run must match."""
        return TrainSettings(**{f.name: getattr(self, f.name) for f in fields(TrainSettings)})


@dataclass(frozen=True)
class Arch:
    """What a graph architecture key stands for: its network, default settings, graph settings and weight decay."""

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


@cache
def _architecture(arch: str, encoder: str | None) -> type:
    """The architecture settings ``arch`` takes, as a dataclass made from its network's keyword-only arguments.

    Its encoder's arguments are included, so :func:`~bulkmod.models.options.parse_options` checks them like any
    other options. Graph settings of the same name (SchNet's ``cutoff``) belong to the graph.
    """
    nets = [ARCHS[arch].net]
    if nets[0] is EncoderHead and encoder in ENCODERS:
        nets.append(ENCODERS[encoder])
    specs = []
    for net in nets:
        hints = typing.get_type_hints(net.__init__)
        for name, p in inspect.signature(net.__init__).parameters.items():
            if p.kind is p.KEYWORD_ONLY and name not in GRAPH_KEYS:
                default = dataclasses.MISSING if p.default is p.empty else p.default
                specs.append((name, hints[name], field(default=default)))
    specs.sort(key=lambda spec: spec[2].default is not dataclasses.MISSING)  # fields without a default come first
    return dataclasses.make_dataclass(arch.title().replace("-", "") + "Architecture", specs, frozen=True)


class GraphModel(Estimator):
    """A graph network on periodic crystal graphs, trained with :class:`bulkmod.models.gnn.trainer.Trainer`.

    Keywords: the fields of :class:`GraphOptions`. ``params`` (``--param``) holds architecture settings (e.g.
    ``n_conv``, the keyword arguments of the network), graph settings (:class:`~bulkmod.graphs.GraphConfig`:
    ``cutoff``, ``max_neighbors``, ``angles``) and may set any option too.
    """

    family: ClassVar[str] = "graph"

    def __init__(
        self,
        arch: str,
        *,
        transform: dict | None = None,
        params: dict | None = None,
        features: dict | None = None,
        weight_decay: float | None = None,
        **options: Any,
    ) -> None:
        """``weight_decay`` None: the architecture's own."""
        super().__init__()
        spec = ARCHS[arch]
        self.key, self.family, self.arch = arch, MODELS[arch].family, arch
        tf = dict(transform or {})
        self.n_fit: int | None = tf.pop("n_fit", None)
        self.transform = TargetTransform.from_dict(tf) if tf else TargetTransform()
        own, rest = split_options(GraphOptions, params)
        wd = spec.weight_decay if weight_decay is None else weight_decay
        self.options = parse_options(GraphOptions, {"weight_decay": wd} | options | own, model=arch)
        if self.options.laplace and (self.options.mc_samples or self.transform.space != "log10"):
            raise BulkmodError(f"{arch}: laplace needs the log10 target and no mc_samples (one uncertainty at a time)")
        # architecture and graph settings: the architecture's defaults, then what was asked for
        self.port_version = self._port_version(rest)
        self.params = {} if self.port_version else {**spec.defaults, **spec.graph, **rest}
        graph, net = split_options(GraphConfig, self.params)
        self.graph = parse_options(GraphConfig, graph, model=arch, listed=[GraphOptions])
        if not self.port_version:
            parse_options(_architecture(arch, net.get("encoder")), net, model=arch, listed=[GraphConfig, GraphOptions])
        if features is not None:
            self.features = FeatureConfig.from_dict(features) if features.get("groups") else None
        else:
            self.features = FeatureConfig(spec.features) if spec.features else None
        self.net: nn.Module | None = None
        self.train_log: list[dict[str, float]] = []
        self._laplace: LastLayerLaplace | None = None

    def _port_version(self, params: dict[str, Any]) -> str | None:
        """The MEGNet version to fine-tune from, when ``megnet`` is asked to start from one.

        That network is the published one, graph and all, so its own architecture or graph settings cannot be
        changed, and its output is log10 K itself, so the target must be log10 K: both are refused, not ignored.
        """
        version = self.options.pretrained
        if self.arch != "megnet" or not version:
            return None
        from bulkmod.models.gnn.megnet_port import check_version

        check_version(version)
        if params:
            raise BulkmodError(
                f"megnet pretrained={version}: the published network and graph are fixed; drop "
                f"{', '.join(f'{k}=' for k in sorted(params))}"
            )
        if self.transform.space != "log10":
            raise BulkmodError(
                f"megnet pretrained={version}: the published model predicts log10 K; use the log10 target"
            )
        return version

    def config(self) -> dict[str, Any]:
        return {
            "transform": self.transform.as_dict() | {"n_fit": self.n_fit},
            "params": self.params,
            "features": self.features.as_dict() if self.features else {"groups": []},
        } | self.options.as_dict()

    # ---- data ----------------------------------------------------------------------------------------
    def _desc_columns(self) -> list[int]:
        assert self.features is not None
        return [i for i, n in enumerate(self.features.names()) if n not in CELL_DEPENDENT]

    def _data(self, ds: Dataset) -> tuple[list[Data | None], dict[int, str]]:
        ds.require_structures("graph models need crystal structures")
        if self.port_version:
            return self._port_data(ds)
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

    def _port_data(self, ds: Dataset) -> tuple[list[Data | None], dict[int, str]]:
        """The published MEGNet's own graphs (its cut-off and bond expansion); a crystal it refuses is an error."""
        from bulkmod.models.gnn.megnet_port import crystal_graphs, port_graph_spec

        data, _, errors = crystal_graphs(ds, port_graph_spec(self.port_version))
        return data, errors

    def _build_net(self) -> nn.Module:
        if self.port_version:
            from bulkmod.models.gnn.megnet_port import port_network

            return port_network(self.port_version)
        desc_dim = len(self._desc_columns()) if self.features else 0
        arch = {k: v for k, v in self.params.items() if k not in GRAPH_KEYS}
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
        excluded = {}
        if errors and self.port_version:
            # the published model has no graph for these crystals (no bond within its cut-off) and never will:
            # they cannot be trained on, so they are left out by name, in train_info and on stderr
            keep = [i for i in range(len(ds)) if i not in errors]
            excluded = {str(ds.ids[i]): why for i, why in errors.items()}
            print(f"megnet pretrained={self.port_version}: {len(excluded)} training crystals have no MEGNet graph "
                  f"and are left out, e.g. {next(iter(excluded.values()))}", file=sys.stderr)  # fmt: skip
            ds, y_log10, data, errors = ds.subset(keep), np.asarray(y_log10)[keep], [data[i] for i in keep], {}
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
            folds = self.options.inner_folds
            frac = 1.0 / folds if folds >= 2 else HOLDOUT_FRACTION
            perm = np.random.default_rng(self.options.seed).permutation(len(ds))
            cut = max(1, round(len(ds) * frac))
            tr, va = np.sort(perm[cut:]), np.sort(perm[:cut])
            val_data, y_val = [data[i] for i in va], y_log10[va]
        torch.manual_seed(self.options.seed)
        self.net = self._build_net()
        report = self._maybe_pretrained()
        self.transform.fit(y_log10[tr])
        self.n_fit = len(tr) if self.transform.standardize else None  # no normaliser, nothing fitted
        if report and report["normalizer"] and self.transform.space == "log10" and self.transform.standardize:
            # keep fc_out's scale meaningful: fine-tune in the target units the checkpoint was trained in
            self.transform.mean, self.transform.std = report["normalizer"]["mean"], report["normalizer"]["std"]
        if self.features is not None:
            U = torch.cat([data[i].u for i in tr]).numpy()
            scale = Standardiser.fit(U, floor=1e-6)
            self.net.head.desc_mean.copy_(torch.from_numpy(scale.mean))
            self.net.head.desc_std.copy_(torch.from_numpy(scale.std.astype(np.float32)))
        trainer = Trainer(self.options.train_settings(), self._checkpoint_dir(ds), self.options.resume)
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
        if self.options.laplace:
            train = [data[i] for i in tr]
            phi, out = self._last_layer_inputs(train)
            last = self._last_linear()
            w = torch.cat([last.weight.detach().flatten(), last.bias.detach()]).double().numpy()
            self._laplace = LastLayerLaplace.fit(phi, out - self.transform.forward(y_log10[tr]), w)
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
        if excluded:
            self.train_info["excluded"] = excluded
        if self.port_version:
            self.train_info["note"] = MODELS["megnet-pretrained"].note  # what it started from saw MP crystals
        return self

    def _maybe_pretrained(self) -> dict[str, Any] | None:
        path = self.options.pretrained
        if not path:
            return None
        if self.port_version:
            from bulkmod.models.gnn.megnet_port import load_port_weights

            # the network outputs log10 K: an identity normaliser keeps its output layer meaningful
            return load_port_weights(self.net, self.port_version) | {"normalizer": {"mean": 0.0, "std": 1.0}}
        if self.arch != "cgcnn":
            raise BulkmodError(
                f"pretrained= is for cgcnn (a legacy checkpoint) and megnet (a MEGNet version), not {self.arch}"
            )
        report = load_legacy_cgcnn(self.net, path)
        print(
            f"pretrained {path}: loaded {report['loaded']} tensors, skipped {len(report['skipped'])}: "
            + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items()),
            file=sys.stderr,
        )
        return report

    def _fingerprint(self, ds: Dataset) -> str:
        cfg = {k: v for k, v in self.config().items() if k not in RUN_KEYS}
        cfg["transform"] = self.transform.as_dict() | {"n_fit": None}
        return sha256_json({"arch": self.arch, "config": cfg, "data": data_hash(ds)})

    def _checkpoint_dir(self, ds: Dataset) -> Path | None:
        root = self.options.checkpoint_dir
        if not root:
            return None
        path = Path(root) / f"{self.arch}-{self._fingerprint(ds)[:16]}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- prediction and storage ------------------------------------------------------------------------
    def _last_linear(self) -> nn.Linear:
        """The output layer: the last one-output linear layer the network registers."""
        return [m for m in self.net.modules() if isinstance(m, nn.Linear) and m.out_features == 1][-1]

    def _last_layer_inputs(self, data: list[Data]) -> tuple[np.ndarray, np.ndarray]:
        """The output layer's input features and the network's outputs (transformed units), in order."""
        seen: list[np.ndarray] = []
        hook = self._last_linear().register_forward_hook(
            lambda _m, args, _out: seen.append(args[0].double().cpu().numpy())
        )
        try:
            out = predict_batches(self.net, data)
        finally:
            hook.remove()
        return np.concatenate(seen), out

    def _forward(self, data: list[Data]) -> tuple[np.ndarray, np.ndarray | None]:
        """Log10 predictions and their std, where the model has one.

        With ``mc_samples`` they are the mean and std over that many dropout passes; with ``laplace``, the
        deterministic pass and the last-layer posterior's std.
        """
        if self._laplace is not None:
            phi, out = self._last_layer_inputs(data)
            scale = self.transform.std  # log10 target space: d log10 K / d output
            return self.transform.inverse(out), np.maximum(self._laplace.std(phi) * scale, STD_FLOOR)
        passes = self.options.mc_samples
        if passes <= 0:
            return self.transform.inverse(predict_batches(self.net, data)), None
        if not any(isinstance(m, nn.Dropout) and m.p > 0 for m in self.net.modules()):
            raise BulkmodError(f"{self.arch}: mc_samples needs dropout > 0 (e.g. --param head_dropout=0.1)")
        torch.manual_seed(self.options.seed)  # the same crystals get the same interval on every call
        draws = np.stack(
            [self.transform.inverse(predict_batches(self.net, data, mc_dropout=True)) for _ in range(passes)]
        )
        return draws.mean(0), np.maximum(draws.std(0), STD_FLOOR)

    def predict(self, ds: Dataset) -> Prediction:
        pred = self._raw_prediction(ds)
        return self._with_intervals(pred, scale=pred.std_log10)

    @property
    def scale_name(self) -> str:
        if self.options.laplace:
            return "last-layer Laplace std"
        return "MC-dropout std" if self.options.mc_samples > 0 else "none"

    def scale(self, ds: Dataset) -> np.ndarray | None:
        """σ(x): the Laplace or MC-dropout std; None without either.

        This is the :class:`~bulkmod.uncertainty.scale.ScaleProvider` side of a graph model.
        """
        return self._raw_prediction(ds).std_log10

    def _raw_prediction(self, ds: Dataset) -> Prediction:
        """Mean and std of :meth:`_forward` per row of ``ds`` (NaN where a graph failed), before calibration."""
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
        return Prediction(mean_log10=mean, std_log10=std, errors=errors)

    def _write_weights(self, directory: Path) -> list[str]:
        if self.net is None:
            raise BulkmodError("model is not fitted")
        with atomic_path(directory / WEIGHTS) as tmp:
            save_model(self.net, str(tmp))  # handles SchNet's shared filter-network tensors
        if self.train_log:
            write_train_log(directory / TRAIN_LOG, self.train_log)
        if self._laplace is None:
            return [WEIGHTS]
        save_safetensors(directory / LAPLACE, self._laplace.arrays())
        return [WEIGHTS, LAPLACE]

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        path = listed_file(directory, manifest, WEIGHTS)
        self.net = self._build_net()
        load_safetensors_into(self.net, path)
        self.net.eval()
        if self.options.laplace:
            path = listed_file(directory, manifest, LAPLACE)
            arrays = load_safetensors(path)
            # the posterior covers the output layer's weights and bias: a file of another shape is refused here,
            # not met as a shape error inside predict
            check_arrays(path, arrays, LAPLACE_ARRAYS, w=self._last_linear().in_features + 1, two=2)
            self._laplace = LastLayerLaplace.from_arrays(arrays)
