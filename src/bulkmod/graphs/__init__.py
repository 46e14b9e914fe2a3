"""Crystal graphs for the graph neural networks: construction, atom features and a disk cache."""

from bulkmod.graphs.atoms import ATOM_FEATURE_DIM, atom_feature_table
from bulkmod.graphs.build import GraphCache, GraphConfig, build_graph, build_graphs, to_data

__all__ = [
    "ATOM_FEATURE_DIM",
    "GraphCache",
    "GraphConfig",
    "atom_feature_table",
    "build_graph",
    "build_graphs",
    "to_data",
]
