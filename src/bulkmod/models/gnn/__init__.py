"""Graph neural networks on periodic crystal graphs (torch + torch-geometric).

Importing this package does not import torch: the registry lists these models for every CLI command,
and only building one pays for torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bulkmod.models.registry import register

# key: (family, one-line summary)
GRAPH_SPECS: dict[str, tuple[str, str]] = {
    "cgcnn": ("graph", "CGCNN, original architecture; --param pretrained=PATH fine-tunes the legacy checkpoint"),
    "cgcnn-deep": ("graph", "deep residual CGCNN: bond angles, attention pooling, global features at the readout"),
    "schnet": ("graph", "SchNet (torch-geometric interaction blocks) on periodic graphs"),
    "megnet": ("graph", "MEGNet edge/node/global-state blocks"),
    "hybrid": ("hybrid", "graph encoder + descriptor vector joined at the readout, trained end to end"),
}


def _factory(key: str) -> Callable[..., Any]:
    def build(**config: Any) -> Any:
        from bulkmod.models.gnn.estimator import GraphModel

        return GraphModel(key, **config)

    return build


def _mc_dropout(**config: Any) -> Any:
    """The hybrid with Monte-Carlo dropout on (30 passes unless --param mc_samples=T says otherwise)."""
    from bulkmod.models.gnn.estimator import GraphModel

    return GraphModel("hybrid", **config | {"params": {"mc_samples": 30} | config.get("params", {})})


for _key, (_family, _summary) in GRAPH_SPECS.items():
    register(_key, _family, _summary)(_factory(_key))
register("mc-dropout", "hybrid", "hybrid graph model with Monte-Carlo dropout (mc_samples passes)")(_mc_dropout)
