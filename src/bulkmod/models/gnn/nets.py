"""The graph networks: each maps a PyG ``Batch`` of crystal graphs to one output per crystal.

Every network is an encoder (atoms -> crystal vector) and a readout; the encoders are shared so
``hybrid`` is any encoder plus a descriptor branch rather than another copy of a network.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.data import Batch
from torch_geometric.nn.models.schnet import GaussianSmearing, InteractionBlock
from torch_geometric.utils import scatter

from bulkmod.errors import BulkmodError
from bulkmod.models.gnn.layers import CGConv, Head, Pool


class CGCNN(nn.Module):
    """The original CGCNN, module names and all (``embedding``, ``convs``, ``conv_to_fc``, ``fcs``, ``fc_out``).

    ``dropout`` (on each convolution's messages and on the hidden crystal vector) and ``residual=False`` are not
    in the original code: they are the original project's proposed quick fix ("deeper, add dropout") and its
    ablation; the defaults keep the original network, so a legacy checkpoint still loads.
    """

    def __init__(
        self,
        atom_dim: int,
        edge_dim: int,
        desc_dim: int = 0,
        *,
        n_conv: int = 3,
        atom_fea_len: int = 64,
        h_fea_len: int = 128,
        n_h: int = 1,
        dropout: float = 0.0,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if desc_dim:
            raise BulkmodError("cgcnn takes no descriptors: use cgcnn-deep or hybrid for global features")
        self.embedding = nn.Linear(atom_dim, atom_fea_len)
        self.convs = nn.ModuleList(
            CGConv(atom_fea_len, edge_dim, dropout=dropout, residual=residual) for _ in range(n_conv)
        )
        self.dropout = nn.Dropout(dropout)
        self.conv_to_fc = nn.Linear(atom_fea_len, h_fea_len)
        self.fcs = nn.ModuleList(nn.Linear(h_fea_len, h_fea_len) for _ in range(n_h - 1))
        self.fc_out = nn.Linear(h_fea_len, 1)
        self.pool = Pool(atom_fea_len, "mean")

    def forward(self, batch: Batch) -> Tensor:
        x = self.embedding(batch.x)
        for conv in self.convs:
            x = conv(x, batch.edge_index, batch.edge_attr)
        crys = self.dropout(F.softplus(self.conv_to_fc(F.softplus(self.pool(x, batch.batch, batch.num_graphs)))))
        for fc in self.fcs:
            crys = self.dropout(F.softplus(fc(crys)))
        return self.fc_out(crys).squeeze(-1)


class CGCNNEncoder(nn.Module):
    """Deep CGCNN: up to 8 residual gated convolutions with layer norm and dropout, attention pooling."""

    def __init__(
        self,
        atom_dim: int,
        edge_dim: int,
        *,
        n_conv: int = 5,
        hidden: int = 128,
        dropout: float = 0.1,
        pooling: str = "attention",
    ) -> None:
        super().__init__()
        if not 1 <= n_conv <= 8 or not 8 <= hidden <= 512:
            raise BulkmodError(f"cgcnn-deep: n_conv={n_conv}, hidden={hidden}; use n_conv 1-8 and hidden 8-512")
        self.embedding = nn.Linear(atom_dim, hidden)
        self.convs = nn.ModuleList(CGConv(hidden, edge_dim, norm="layer", dropout=dropout) for _ in range(n_conv))
        self.pool = Pool(hidden, pooling)
        self.out_dim = hidden

    def forward(self, batch: Batch) -> Tensor:
        x = self.embedding(batch.x)
        for conv in self.convs:
            x = conv(x, batch.edge_index, batch.edge_attr)  # CGConv is residual inside: softplus(x + msg)
        return self.pool(x, batch.batch, batch.num_graphs)


class SchNetEncoder(nn.Module):
    """SchNet (Schütt et al. 2018) from torch-geometric's own interaction blocks on our periodic edges.

    PyG's ``SchNet`` model builds its graph with ``radius_graph`` (torch-cluster, and not periodic), so
    only its ``InteractionBlock`` and ``GaussianSmearing`` are used here with the crystal graph's edges.
    """

    def __init__(
        self,
        atom_dim: int,
        edge_dim: int,
        *,
        hidden: int = 64,
        n_filters: int = 64,
        n_interactions: int = 3,
        n_gaussians: int = 50,
        cutoff: float = 16.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Linear(atom_dim, hidden)
        self.smearing = GaussianSmearing(0.0, cutoff, n_gaussians)
        self.interactions = nn.ModuleList(
            InteractionBlock(hidden, n_gaussians, n_filters, cutoff) for _ in range(n_interactions)
        )
        self.pool = Pool(hidden, "mean")
        self.out_dim = hidden

    def forward(self, batch: Batch) -> Tensor:
        x = self.embedding(batch.x)
        attr = self.smearing(batch.edge_weight)
        for block in self.interactions:
            x = x + block(x, batch.edge_index, batch.edge_weight, attr)
        return self.pool(x, batch.batch, batch.num_graphs)


def _mlp(dim_in: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())


class MEGNetBlock(nn.Module):
    """One MEGNet graph block (Chen et al. 2019): edge, then node, then global-state update, each residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.edge = _mlp(4 * dim, dim)
        self.node = _mlp(3 * dim, dim)
        self.state = _mlp(3 * dim, dim)

    def forward(self, v: Tensor, e: Tensor, u: Tensor, edge_index: Tensor, batch: Tensor) -> tuple[Tensor, ...]:
        src, dst = edge_index
        n, g = v.size(0), u.size(0)
        e_new = self.edge(torch.cat([v[src], v[dst], e, u[batch[dst]]], dim=1))
        v_new = self.node(torch.cat([scatter(e_new, dst, 0, dim_size=n, reduce="mean"), v, u[batch]], dim=1))
        e_per_graph = scatter(e_new, batch[dst], 0, dim_size=g, reduce="mean")
        u_new = self.state(torch.cat([e_per_graph, scatter(v_new, batch, 0, dim_size=g, reduce="mean"), u], dim=1))
        return v + v_new, e + e_new, u + u_new


class MEGNetEncoder(nn.Module):
    """MEGNet: node, edge and a per-crystal global state updated together; readout of all three."""

    def __init__(self, atom_dim: int, edge_dim: int, *, hidden: int = 64, n_blocks: int = 3) -> None:
        super().__init__()
        self.node_in = nn.Linear(atom_dim, hidden)
        self.edge_in = nn.Linear(edge_dim, hidden)
        self.state0 = nn.Parameter(torch.zeros(hidden))
        self.blocks = nn.ModuleList(MEGNetBlock(hidden) for _ in range(n_blocks))
        self.pool = Pool(hidden, "mean")
        self.out_dim = 3 * hidden

    def forward(self, batch: Batch) -> Tensor:
        v, e = self.node_in(batch.x), self.edge_in(batch.edge_attr)
        u = self.state0.expand(batch.num_graphs, -1)
        for block in self.blocks:
            v, e, u = block(v, e, u, batch.edge_index, batch.batch)
        g = batch.num_graphs
        e_pool = scatter(e, batch.batch[batch.edge_index[1]], 0, dim_size=g, reduce="mean")
        return torch.cat([self.pool(v, batch.batch, g), e_pool, u], dim=1)


ENCODERS: dict[str, type[nn.Module]] = {"cgcnn-deep": CGCNNEncoder, "schnet": SchNetEncoder, "megnet": MEGNetEncoder}


class EncoderHead(nn.Module):
    """Any encoder plus the shared readout; with ``desc_dim`` the descriptor vector joins at the readout."""

    def __init__(
        self,
        atom_dim: int,
        edge_dim: int,
        desc_dim: int = 0,
        *,
        encoder: str,
        head_hidden: int = 128,
        head_layers: int = 2,
        head_dropout: float = 0.0,
        **encoder_params: Any,
    ) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise BulkmodError(f"unknown graph encoder {encoder!r}: use {', '.join(ENCODERS)}")
        try:
            self.encoder = ENCODERS[encoder](atom_dim, edge_dim, **encoder_params)
        except TypeError as exc:
            raise BulkmodError(f"{encoder}: unknown parameter ({exc})") from None
        self.head = Head(self.encoder.out_dim, head_hidden, head_layers, desc_dim, head_dropout)

    def forward(self, batch: Batch) -> Tensor:
        return self.head(self.encoder(batch), batch)
