"""The original pretrained MEGNet bulk-modulus models (Chen et al. 2019, megnet 1.3.2), ported from Keras to torch.

The authors' Keras HDF5 files are read as data: h5py datasets only, each checked against the shape this
architecture needs before it is read, so no Keras (or pickle) code ever runs and a file that does not fit fails
with a one-line reason. The forward pass reproduces megnet 1.3.2 as it ran, quirks included, because the point of
the port is that its numbers are the original's:

- the graph is every neighbour within the converter's cut-off (``MinimumDistanceNNAll``), bonds expanded on
  Gaussians ``exp(-(d - mu)^2 / width^2)``, the state input is ``[0, 0]`` and atoms enter as ``Z`` (embedding);
- activations are ``softplus2`` = softplus(x) - log 2, except the last layer of each MEGNetLayer update, which
  the original's ``_mlp`` returns before its activation;
- Set2Set's LSTM uses Keras 2's ``hard_sigmoid`` (0.2 x + 0.5, clipped) and never carries its cell state
  between steps (``self.c`` stays zero in the original), so each step starts from a zero cell.

A crystal with no bond inside the cut-off gets an error, as in the original; one where only some atoms have no
bond is predicted as the original predicted it, and the count of such atoms comes with the prediction.

The weights come from the authors' public files at a fixed commit, checked by sha256; the copy in the shared
data folder is used when it has the same hash, so nothing is downloaded where the data is at hand.

bulkmod's own ``megnet`` (trained from scratch) cannot start from these weights: it reads one-hot atom features,
not a Z embedding; 41 Gaussians to 8 A on the 12 nearest neighbours, not 100 to 5 A on every neighbour within
4 A; 64-wide SiLU blocks without per-block feed-forward layers; and a mean-pooled head, not Set2Set. No tensor
of the original has a counterpart there, so ``megnet --param pretrained=VERSION`` fine-tunes this port instead:
the same network and graphs, trained on by :class:`~bulkmod.models.gnn.estimator.GraphModel`.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import h5py
import numpy as np
import torch
from pymatgen.core import Structure
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter, softmax

from bulkmod.data.download import fetch
from bulkmod.data.records import Dataset
from bulkmod.errors import BulkmodError
from bulkmod.io import sha256_file, shared_data_dir
from bulkmod.models.base import Estimator, Prediction
from bulkmod.models.gnn.trainer import predict_batches
from bulkmod.models.options import Options, parse_options
from bulkmod.models.registry import MODELS

UPSTREAM = "https://github.com/materialsvirtuallab/megnet/raw/f3705760266f24b62c4810dd4abacfc25f4f64ae/mvl_models"
SHARED_FOLDER = "megnet-pretrained"
DEFAULT_VERSION = "mp-2019.4.1"
N_VOCAB = 95  # the embedding's rows: atomic numbers 0..94
FEATURES = 32  # width of the atom, bond and state vectors between blocks
SET2SET_HIDDEN = 16
N_BLOCKS = 3
N_CENTERS = 100  # Gaussians of the bond expansion: the first bond layer's input width in both published models
MAX_CUTOFF = 10.0  # Angstrom: a converter file asking for more is not one of these models
SELF_TOL = 1e-8  # Angstrom: megnet's numerical_tol; a site at this distance from itself is not its neighbour


@dataclass(frozen=True)
class Version:
    """One published model: what pins its files, how it is built, and what it was trained on.

    That is the sha256 of its two files, its Set2Set steps (``T`` in its Keras config) and the number of Materials
    Project crystals its authors trained it on (its JSON's metadata).
    """

    hdf5_sha256: str
    json_sha256: str
    set2set_steps: int
    n_train: int


VERSIONS: dict[str, Version] = {
    "mp-2019.4.1": Version(
        "ac521bb2f6752e1a7c99df86059114b9b7920223f1db957c11749f34e8f9af4a",
        "b91c548a472a92a20e465e3821537222ed35b70868948e9bc5d43aa52ad5029f",
        3,
        12179,
    ),
    "mp-2018.6.1": Version(
        "283e249977d9ac718c92a28590f35bf6ba53f49642469b98e11627a03e24dd05",
        "96415cd0a10c00f174fd8b7560d0df1588f877e9df619f74a0aa702624dd32f4",
        1,
        5830,
    ),
}


def check_version(version: str) -> Version:
    """The published model called ``version``; an unknown version is refused with the known ones listed."""
    if version not in VERSIONS:
        raise BulkmodError(f"unknown MEGNet version {version!r}: use {', '.join(VERSIONS)}")
    return VERSIONS[version]


# ---- files ---------------------------------------------------------------------------------------------------------


def _shared_copy(name: str, sha256: str) -> Path | None:
    """The file in the shared data folder when it is there with the pinned hash."""
    try:
        path = shared_data_dir() / SHARED_FOLDER / name
    except BulkmodError:  # no shared data on this machine: fetch instead
        return None
    return path if path.is_file() and sha256_file(path) == sha256 else None


def weights_files(version: str, *, allow_download: bool = True) -> tuple[Path, Path]:
    """(HDF5 weights, graph-converter JSON) of ``version``: the shared copy, else the cached public file."""
    spec = check_version(version)
    out = []
    for suffix, sha in (("hdf5", spec.hdf5_sha256), ("hdf5.json", spec.json_sha256)):
        name = f"{version}_log10K.{suffix}"
        path = _shared_copy(name, sha) or fetch(
            f"{UPSTREAM}/{version}/log10K.{suffix}", sha, f"megnet/{name}", allow_download=allow_download
        )
        out.append(path)
    return out[0], out[1]


@dataclass(frozen=True)
class GraphSpec:
    """How the original converter made a graph: cut-off and the Gaussian bond expansion."""

    cutoff: float
    centers: np.ndarray
    width: float

    def expand(self, dist: np.ndarray) -> Tensor:
        return torch.from_numpy(np.exp(-((dist[:, None] - self.centers[None, :]) ** 2) / self.width**2)).float()


def read_graph_spec(path: Path, n_centers: int) -> GraphSpec:
    """The converter settings from the model's JSON, read as plain data and checked against the weights."""
    try:
        conv = json.loads(Path(path).read_text(encoding="utf-8"))["graph_converter"]
        bond = conv["bond_converter"]
        cutoff, width = float(conv["cutoff"]), float(bond["width"])
        centers = np.asarray(bond["centers"]["data"], dtype=float)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BulkmodError(f"{path}: not a MEGNet graph-converter file ({type(exc).__name__}: {exc})") from None
    strategy_cutoff = float((conv.get("nn_strategy") or {}).get("cutoff", cutoff))
    if not (0 < cutoff <= MAX_CUTOFF and strategy_cutoff == cutoff and width > 0 and np.all(np.isfinite(centers))):
        raise BulkmodError(f"{path}: cut-off {cutoff}, strategy cut-off {strategy_cutoff} or width {width} is invalid")
    if centers.shape != (n_centers,):
        raise BulkmodError(f"{path}: {centers.size} Gaussian centres, the weights expect {n_centers}")
    return GraphSpec(cutoff, centers, width)


# ---- the network ---------------------------------------------------------------------------------------------------


def softplus2(x: Tensor) -> Tensor:
    """MEGNet's default activation: softplus shifted to pass through 0."""
    return F.softplus(x) - math.log(2.0)


def hard_sigmoid(x: Tensor) -> Tensor:
    """Keras 2's hard sigmoid (the LSTM gates of Set2Set)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


class Dense(nn.Module):
    """Linear layers with softplus2 after each, except after the last one when ``last_activation`` is False."""

    def __init__(self, dims: list[int], *, last_activation: bool = True) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.last_activation = last_activation

    def forward(self, x: Tensor) -> Tensor:
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if self.last_activation or k < len(self.layers) - 1:
                x = softplus2(x)
        return x


class MEGNetLayer(nn.Module):
    """megnet's ``MEGNetLayer``: bond, then atom, then state update, each aggregated by the mean."""

    def __init__(self, dim: int = FEATURES) -> None:
        super().__init__()
        units = [2 * dim, 2 * dim, dim]
        self.phi_e = Dense([4 * dim, *units], last_activation=False)
        self.phi_v = Dense([3 * dim, *units], last_activation=False)
        self.phi_u = Dense([3 * dim, *units], last_activation=False)

    def forward(self, v: Tensor, e: Tensor, u: Tensor, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        centre, neighbour = batch.edge_index[1], batch.edge_index[0]  # megnet's index1, index2
        edge_graph = batch.batch[centre]
        g = batch.num_graphs
        e_p = self.phi_e(torch.cat([v[centre], v[neighbour], e, u[edge_graph]], dim=1))
        v_p = self.phi_v(torch.cat([scatter(e_p, centre, 0, dim_size=v.size(0), reduce="mean"), v, u[batch.batch]], 1))
        u_p = self.phi_u(
            torch.cat(
                [scatter(e_p, edge_graph, 0, dim_size=g, reduce="mean"),
                 scatter(v_p, batch.batch, 0, dim_size=g, reduce="mean"), u], dim=1,
            )
        )  # fmt: skip
        return v_p, e_p, u_p


class Set2Set(nn.Module):
    """megnet's ``Set2Set``: attention readout over a set, queried by an LSTM with no carried cell state."""

    def __init__(self, dim: int = FEATURES, hidden: int = SET2SET_HIDDEN, steps: int = 3) -> None:
        super().__init__()
        self.m = nn.Linear(dim, hidden)
        self.lstm = nn.Linear(2 * hidden, 4 * hidden)  # Keras: recurrent_kernel (transposed) + recurrent_bias
        self.hidden, self.steps = hidden, steps

    def forward(self, x: Tensor, index: Tensor, num_graphs: int) -> Tensor:
        m = self.m(x)
        q_star = m.new_zeros(num_graphs, 2 * self.hidden)
        for _ in range(self.steps):
            i, _f, g, o = self.lstm(q_star).chunk(4, dim=1)  # the forget gate multiplies a cell that is always zero
            h = hard_sigmoid(o) * torch.tanh(hard_sigmoid(i) * torch.tanh(g))
            a = softmax((m * h[index]).sum(dim=1), index, num_nodes=num_graphs)
            q_star = torch.cat([h, scatter(a[:, None] * m, index, 0, dim_size=num_graphs, reduce="sum")], dim=1)
        return q_star


class PretrainedMEGNet(nn.Module):
    """``make_megnet_model`` with the bulk-modulus models' settings (3 blocks, 64-32 layers, Set2Set of 16)."""

    def __init__(self, n_centers: int = N_CENTERS, set2set_steps: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(N_VOCAB, 16)
        self.atom_ff = nn.ModuleList(Dense([16 if k == 0 else FEATURES, 64, FEATURES]) for k in range(N_BLOCKS))
        self.bond_ff = nn.ModuleList(Dense([n_centers if k == 0 else FEATURES, 64, FEATURES]) for k in range(N_BLOCKS))
        self.state_ff = nn.ModuleList(Dense([2 if k == 0 else FEATURES, 64, FEATURES]) for k in range(N_BLOCKS))
        self.blocks = nn.ModuleList(MEGNetLayer() for _ in range(N_BLOCKS))
        self.set2set_atom = Set2Set(steps=set2set_steps)
        self.set2set_bond = Set2Set(steps=set2set_steps)
        self.readout = Dense([3 * FEATURES, 32, 16, 1], last_activation=False)

    def forward(self, batch: Batch) -> Tensor:
        g = batch.num_graphs
        v = self.atom_ff[0](self.embedding(batch.x))
        e = self.bond_ff[0](batch.edge_attr)
        u = self.state_ff[0](batch.x.new_zeros(g, 2, dtype=torch.float32))  # megnet's default state [0, 0]
        for k, block in enumerate(self.blocks):
            # the first block's feed-forward layers are the pre-block ones above; later blocks start with their own
            dv, de, du = block(
                *((v, e, u) if k == 0 else (self.atom_ff[k](v), self.bond_ff[k](e), self.state_ff[k](u))), batch
            )
            v, e, u = v + dv, e + de, u + du
        edge_graph = batch.batch[batch.edge_index[1]]
        crystal = torch.cat([self.set2set_atom(v, batch.batch, g), self.set2set_bond(e, edge_graph, g), u], dim=1)
        return self.readout(crystal).squeeze(-1)


# ---- Keras HDF5 -> torch ---------------------------------------------------------------------------------------------


def keras_names(n_blocks: int = N_BLOCKS) -> dict[str, tuple[str, str]]:
    """Each torch parameter of :class:`PretrainedMEGNet` -> (Keras layer, the end of its weight name).

    Keras numbered the Dense layers as ``make_megnet_model`` created them: per block the atom, bond and state
    feed-forward pairs (the first block's are the pre-block layers), then the three readout layers.
    """
    out: dict[str, tuple[str, str]] = {"embedding.weight": ("embedding_1", "/embeddings:0")}

    def linear(module: str, layer: str, kernel: str = "/kernel:0", bias: str = "/bias:0") -> None:
        out[f"{module}.weight"], out[f"{module}.bias"] = (layer, kernel), (layer, bias)

    dense = iter(range(1, 100))
    for k in range(n_blocks):
        for part in ("atom_ff", "bond_ff", "state_ff"):
            for j in range(2):
                linear(f"{part}.{k}.layers.{j}", f"dense_{next(dense)}")
        for phi, j in itertools.product("evu", range(3)):
            linear(f"blocks.{k}.phi_{phi}.layers.{j}", f"meg_net_layer_{k + 1}",
                   f"/phi_{phi}/weight_{phi}_{j}:0", f"/phi_{phi}/bias_{phi}_{j}:0")  # fmt: skip
    for j in range(3):
        linear(f"readout.layers.{j}", f"dense_{next(dense)}")
    for layer, part in (("set2_set_1", "set2set_atom"), ("set2_set_2", "set2set_bond")):
        linear(f"{part}.m", layer, "/x_to_m_weight:0", "/x_to_m_bias:0")
        linear(f"{part}.lstm", layer, "/recurrent_kernel:0", "/recurrent_bias:0")
    return out


def _weight_names(group: h5py.Group) -> list[str]:
    names = group.attrs.get("weight_names", [])
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in np.atleast_1d(names)]


def load_keras_weights(net: PretrainedMEGNet, path: Path | str) -> None:
    """Copy the Keras weights in ``path`` into ``net``; any missing, extra, misshapen or non-finite weight is an error.

    Kernels are stored (in, out) by Keras and (out, in) by torch; the embedding is the same both ways.
    """
    path = Path(path)
    own = net.state_dict()
    names = keras_names()
    wanted: dict[str, int] = {}
    for layer, _ in names.values():
        wanted[layer] = wanted.get(layer, 0) + 1
    try:
        with h5py.File(path, "r") as f:
            root = f.get("model_weights", f)
            layers = {k for k in root if isinstance(root[k], h5py.Group) and _weight_names(root[k])}
            if layers != set(wanted):
                extra, missing = sorted(layers - set(wanted)), sorted(set(wanted) - layers)
                raise BulkmodError(
                    f"{path}: not the MEGNet bulk-modulus architecture (layers missing: "
                    f"{', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'})"
                )
            loaded = {}
            for name, (layer, suffix) in names.items():
                group = root[layer]
                if len(_weight_names(group)) != wanted[layer]:
                    raise BulkmodError(f"{path}: layer {layer} holds {len(_weight_names(group))} weights, "
                                       f"the architecture has {wanted[layer]}")  # fmt: skip
                match = [n for n in _weight_names(group) if n.endswith(suffix)]
                ds = group.get(match[0]) if len(match) == 1 else None
                if not isinstance(ds, h5py.Dataset):
                    raise BulkmodError(f"{path}: layer {layer} has no weight ending in {suffix}")
                transpose = ds.ndim == 2 and not name.startswith("embedding")
                expected = tuple(own[name].shape[::-1] if transpose else own[name].shape)
                if ds.shape != expected or ds.dtype.kind != "f":
                    raise BulkmodError(f"{path}: {layer}{suffix} is {ds.dtype} {ds.shape}; the MEGNet architecture "
                                       f"needs float {expected}")  # fmt: skip
                array = np.asarray(ds[()], dtype=np.float32)
                if not np.all(np.isfinite(array)):
                    raise BulkmodError(f"{path}: {layer}{suffix} holds non-finite values")
                loaded[name] = torch.from_numpy(array.T.copy() if transpose else array)
    except OSError as exc:
        raise BulkmodError(f"{path}: not a readable HDF5 file ({exc})") from None
    net.load_state_dict(loaded)


def port_network(version: str) -> PretrainedMEGNet:
    """The architecture of ``version``, untrained: what a fine-tuned model's saved weights are read into."""
    return PretrainedMEGNet(set2set_steps=check_version(version).set2set_steps)


@cache
def port_graph_spec(version: str) -> GraphSpec:
    """The graph settings ``version`` was trained with, from its converter file (read and hash-checked once)."""
    return read_graph_spec(weights_files(version)[1], N_CENTERS)


def load_port_weights(net: PretrainedMEGNet, version: str) -> dict[str, Any]:
    """The published weights of ``version`` copied into ``net`` (the start of fine-tuning), and what was loaded."""
    load_keras_weights(net, weights_files(version)[0])
    return {"loaded": len(net.state_dict()), "skipped": {}, "source": f"megnet {version}"}


def load_pretrained(version: str = DEFAULT_VERSION) -> tuple[PretrainedMEGNet, GraphSpec]:
    """The ported network of ``version`` in eval mode, and the graph settings it was trained with."""
    net = port_network(version)
    load_port_weights(net, version)
    return net.eval(), port_graph_spec(version)


# ---- crystals -> graphs -> predictions -------------------------------------------------------------------------------


def crystal_graph(structure: Structure, name: str, spec: GraphSpec) -> tuple[Data, int]:
    """The original converter's graph of one crystal and its number of atoms without a bond.

    Every neighbour inside the cut-off is a bond (``MinimumDistanceNNAll``), both ways round, a site's own images
    included. A crystal the original could not describe raises, naming ``name``: no bond at all (megnet raised
    "the cutoff is too small"), a disordered site or an element beyond its embedding. An atom with no bond of its
    own only made the original log a warning; it still predicted, from that atom's embedding and the state alone
    in place of messages, so the port predicts too and reports the count.
    """
    if not structure.is_ordered:
        raise BulkmodError(f"{name}: disordered sites: MEGNet's crystal graph needs one element per site")
    too_heavy = sorted({site.specie.symbol for site in structure if site.specie.Z >= N_VOCAB})
    if too_heavy:
        raise BulkmodError(f"{name}: MEGNet's element embedding stops at Pu (Z = 94), not {', '.join(too_heavy)}")
    centre, neighbour, _, dist = structure.get_neighbor_list(spec.cutoff)
    bond = (centre != neighbour) | (dist > SELF_TOL)
    if not bond.any():
        raise BulkmodError(
            f"{name}: no two atoms within MEGNet's {spec.cutoff:g} A cut-off, so no bond to pass messages along "
            "(the original refuses such crystals too)"
        )
    centre, neighbour, dist = centre[bond], neighbour[bond], dist[bond]
    data = Data(
        x=torch.tensor([site.specie.Z for site in structure], dtype=torch.long),
        edge_index=torch.from_numpy(np.stack([neighbour, centre]).astype(np.int64)),  # bulkmod's [neighbour, centre]
        edge_attr=spec.expand(dist),
        num_nodes=len(structure),
    )
    return data, len(structure) - len(np.unique(centre))


def crystal_graphs(ds: Dataset, spec: GraphSpec) -> tuple[list[Data | None], np.ndarray, dict[int, str]]:
    """:func:`crystal_graph` of every row: the graphs (None where refused), atoms without a bond, and the reasons."""
    data: list[Data | None] = []
    isolated = np.zeros(len(ds), dtype=int)
    errors: dict[int, str] = {}
    for i, (structure, name) in enumerate(zip(ds.structures, ds.ids, strict=True)):
        try:
            graph, isolated[i] = crystal_graph(structure, str(name), spec)
        except BulkmodError as exc:
            graph, errors[i] = None, str(exc)
        data.append(graph)
    return data, isolated, errors


@dataclass(frozen=True)
class MEGNetOptions(Options):
    """The pretrained MEGNet model's options: ``version`` and ``seed``.

    ``version``: which published model (:data:`VERSIONS`); ``seed``: unused, prediction is deterministic, but
    every model takes ``--seed``.
    """

    version: Literal["mp-2019.4.1", "mp-2018.6.1"] = DEFAULT_VERSION
    seed: int = 0


class MEGNetPretrained(Estimator):
    """Zero-shot: the authors' pretrained MEGNet predicts log10 K with no training step (``fit`` changes nothing).

    No interval: the only labelled data at hand to calibrate one is Materials Project data the model was trained
    on, whose residuals would make a band far too narrow for new crystals.
    """

    key: ClassVar[str] = "megnet-pretrained"
    family: ClassVar[str] = "zero-shot"

    def __init__(self, *, params: dict | None = None, **options: Any) -> None:
        """``options`` (keywords, or ``params`` from ``--param``): the fields of :class:`MEGNetOptions`."""
        super().__init__()
        self.options = parse_options(MEGNetOptions, options | (params or {}), model=self.key)
        version = self.options.version
        n_train = VERSIONS[version].n_train
        self.train_info = {"dataset": f"materials-project-{version}", "n": n_train, "note": MODELS[self.key].note}
        self._loaded: tuple[PretrainedMEGNet, GraphSpec] | None = None

    def config(self) -> dict[str, Any]:
        return self.options.as_dict()

    def fit(self, ds: Dataset, y_log10: np.ndarray, *, val: Dataset | None = None) -> Self:
        return self

    def predict(self, ds: Dataset) -> Prediction:
        ds.require_structures("megnet-pretrained needs crystal structures")
        if self._loaded is None:
            self._loaded = load_pretrained(self.options.version)
        net, spec = self._loaded
        data, isolated, errors = crystal_graphs(ds, spec)
        ok = [i for i, d in enumerate(data) if d is not None]
        mean = np.full(len(ds), np.nan)
        if ok:
            mean[ok] = predict_batches(net, [data[i] for i in ok])
        return Prediction(mean_log10=mean, errors=errors, extra={"atoms_without_bond": isolated})

    def _write_weights(self, directory: Path) -> list[str]:
        return []  # the authors' files are fetched by sha256 (or found in the shared data), never copied

    def _read_weights(self, directory: Path, manifest: dict) -> None:
        pass
