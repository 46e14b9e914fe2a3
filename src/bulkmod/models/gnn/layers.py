"""Building blocks shared by the graph networks: the CGCNN convolution, pooling and the readout head."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.data import Batch
from torch_geometric.nn import global_mean_pool
from torch_geometric.nn.aggr import AttentionalAggregation
from torch_geometric.utils import scatter

from bulkmod.errors import BulkmodError

DESC_CLIP = 10.0  # standard deviations


class CGConv(nn.Module):
    """The CGCNN convolution (Xie & Grossman 2018): gated messages from [self, neighbour, bond].

    With ``norm="batch"``, no dropout and the residual sum it is the original layer, with the original
    parameter names (``fc_full``, ``bn1``, ``bn2``) so a legacy checkpoint maps onto it; ``norm="layer"`` makes
    a crystal's output independent of the other crystals in the batch in training mode too. ``residual=False``
    drops the original's ``x +`` skip (softplus of the messages alone), the ablation of that connection.
    """

    def __init__(
        self, atom_dim: int, edge_dim: int, norm: str = "batch", dropout: float = 0.0, *, residual: bool = True
    ) -> None:
        super().__init__()
        make = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}
        if norm not in make:
            raise BulkmodError(f"unknown norm {norm!r}: use batch or layer")
        self.fc_full = nn.Linear(2 * atom_dim + edge_dim, 2 * atom_dim)
        self.bn1 = make[norm](2 * atom_dim)
        self.bn2 = make[norm](atom_dim)
        self.dropout = nn.Dropout(dropout)
        self.residual = residual

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        src, dst = edge_index
        gate, core = self.bn1(self.fc_full(torch.cat([x[dst], x[src], edge_attr], dim=1))).chunk(2, dim=1)
        agg = scatter(torch.sigmoid(gate) * F.softplus(core), dst, dim=0, dim_size=x.size(0), reduce="sum")
        msg = self.dropout(self.bn2(agg))
        return F.softplus(x + msg if self.residual else msg)


class Pool(nn.Module):
    """Crystal vector from atom vectors: ``mean`` or ``attention`` (softmax-weighted mean, per crystal)."""

    def __init__(self, dim: int, kind: str = "mean") -> None:
        super().__init__()
        if kind not in ("mean", "attention"):
            raise BulkmodError(f"unknown pooling {kind!r}: use mean or attention")
        self.attn = (
            AttentionalAggregation(nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 1)))
            if (kind == "attention")
            else None
        )

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        if self.attn is None:
            return global_mean_pool(x, batch, size=num_graphs)
        return self.attn(x, batch, dim_size=num_graphs)


class Head(nn.Module):
    """Readout MLP on the crystal vector, optionally joined with a descriptor vector (multi-scale / hybrid).

    Descriptors are standardised with train-set statistics held as buffers, so they travel with the weights.
    """

    def __init__(self, in_dim: int, hidden: int, n_layers: int = 2, desc_dim: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.desc_dim = desc_dim
        if desc_dim:
            self.register_buffer("desc_mean", torch.zeros(desc_dim))
            self.register_buffer("desc_std", torch.ones(desc_dim))
            self.desc = nn.Sequential(nn.Linear(desc_dim, hidden), nn.SiLU(), nn.Dropout(dropout))
        layers: list[nn.Module] = []
        dim = in_dim + (hidden if desc_dim else 0)
        for _ in range(n_layers):
            layers += [nn.Linear(dim, hidden), nn.SiLU(), nn.Dropout(dropout)]
            dim = hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(dim, 1))

    def forward(self, crystal: Tensor, batch: Batch) -> Tensor:
        if self.desc_dim:
            # missing descriptors -> the training mean; far outliers are capped so one odd crystal cannot saturate
            u = torch.nan_to_num((batch.u - self.desc_mean) / self.desc_std).clamp(-DESC_CLIP, DESC_CLIP)
            crystal = torch.cat([crystal, self.desc(u)], dim=1)
        return self.mlp(crystal).squeeze(-1)
