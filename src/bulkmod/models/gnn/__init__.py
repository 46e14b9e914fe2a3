"""Graph neural networks on periodic crystal graphs (torch + torch-geometric).

Importing this package does not import torch: the registry lists these models for every CLI command,
and only building one pays for torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bulkmod.models.registry import register
from bulkmod.optional import require

# key: (family, one-line summary)
GRAPH_SPECS: dict[str, tuple[str, str]] = {
    "cgcnn": ("graph", "CGCNN, original architecture; --param pretrained=PATH fine-tunes the legacy checkpoint"),
    "cgcnn-deep": ("graph", "deep residual CGCNN: bond angles, attention pooling, global features at the readout"),
    "schnet": ("graph", "SchNet (torch-geometric interaction blocks) on periodic graphs"),
    "megnet": ("graph", "MEGNet edge/node/global-state blocks; --param pretrained=mp-2019.4.1 fine-tunes the original"),
    "hybrid": ("hybrid", "graph encoder + descriptor vector joined at the readout, trained end to end"),
}
# every result and card of megnet-pretrained carries it; here, not in megnet_port, so the registry needs no torch
MEGNET_LEAK_NOTE = (
    "MEGNet's pretrained bulk-modulus models were trained on Materials Project elasticity data: on MP crystals "
    "(mp-binary-2025, elastic-2015, matbench, mp-kvrh-all) a score measures memory, not skill. The clean tests are "
    "experimental sets (expt-jarvis, once its crystals have structures: it lists formulas only) and crystals absent "
    "from their training data."
)


def _factory(key: str) -> Callable[..., Any]:
    def build(**config: Any) -> Any:
        from bulkmod.models.gnn.estimator import GraphModel

        return GraphModel(key, **config)

    return build


def megnet_pretrained(**config: Any) -> Any:
    """The original pretrained MEGNet, zero-shot (:mod:`bulkmod.models.gnn.megnet_port`)."""
    require("h5py")
    from bulkmod.models.gnn.megnet_port import MEGNetPretrained

    return MEGNetPretrained(**config)


def _mc_dropout(**config: Any) -> Any:
    """The hybrid with Monte-Carlo dropout on (30 passes unless --param mc_samples=T says otherwise)."""
    return _factory("hybrid")(**{"mc_samples": 30} | config)


for _key, (_family, _summary) in GRAPH_SPECS.items():
    register(_key, _family, _summary)(_factory(_key))
register("mc-dropout", "hybrid", "hybrid graph model with Monte-Carlo dropout (mc_samples passes)")(_mc_dropout)
register(
    "megnet-pretrained",
    "zero-shot",
    "the original pretrained MEGNet (Keras weights in torch); --param version=mp-2019.4.1|mp-2018.6.1",
    MEGNET_LEAK_NOTE,
)(megnet_pretrained)
